/**
 * Raw tensor contents (`raw_input_contents` / `raw_output_contents`): little-endian, row-major, and
 * for BYTES each element as a 4-byte little-endian length then its bytes. Numeric contents are read
 * as views of the message's buffer and written from views of the caller's typed array.
 */
import { decodeBytesElements } from "./bytes-framing.js";
import {
  arrayOf,
  datatypeInfo,
  type Datatype,
  type NumericData,
  type NumericDatatype,
  type TensorData,
} from "./datatype.js";

/** Bytes of a typed array, as a view (no copy). */
export function bytesOf(data: NumericData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Views raw bytes as elements of `datatype`. Copies only when `bytes` is not aligned for the
 * element size, which a typed array view requires.
 */
export function viewRaw(datatype: NumericDatatype, bytes: Uint8Array): NumericData {
  const { size } = datatypeInfo(datatype);
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(
      `${datatype}: expected a multiple of ${size} bytes, got ${bytes.byteLength} bytes`,
    );
  }
  // Uint8Array's slice copies; a Buffer's `slice` would return a view, still misaligned.
  const source = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  return new (arrayOf(datatype))(source.buffer, source.byteOffset, source.byteLength / size);
}

/**
 * Reads raw contents holding `count` elements of `datatype`: BYTES elements as views of their
 * frames, numeric ones as a typed array viewing `bytes`. Throws a RangeError saying what was
 * expected and what came when the length or the framing is wrong.
 */
export function readRaw(datatype: Datatype, bytes: Uint8Array, count: number): TensorData {
  if (datatype === "BYTES") return decodeBytesElements(bytes, count);
  const size = datatypeInfo(datatype).size;
  if (bytes.byteLength !== count * size) {
    throw new RangeError(
      `expected ${count} elements of ${datatype} (${count * size} bytes), got ${bytes.byteLength} bytes`,
    );
  }
  return viewRaw(datatype, bytes);
}
