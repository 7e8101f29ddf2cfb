/**
 * Tensor datatypes of the Open Inference Protocol and their raw encoding, shared by the server and
 * the client so both sides read and write `raw_input_contents` / `raw_output_contents` the same way:
 * little-endian, row-major, and for BYTES each element as a 4-byte little-endian length then its bytes.
 */
import { endianness } from "node:os";

export const DATATYPES = [
  "BOOL",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
  "INT8",
  "INT16",
  "INT32",
  "INT64",
  "FP16",
  "FP32",
  "FP64",
  "BYTES",
] as const;

export type Datatype = (typeof DATATYPES)[number];

/** Elements of a fixed-size datatype. FP16 is held as its raw 16-bit words. */
export type NumericData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** A tensor's elements in memory: a typed array, or one byte string per element for BYTES. */
export type TensorData = NumericData | readonly Uint8Array[];

interface NumericArrayConstructor {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): NumericData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericData;
}

export interface DatatypeInfo {
  readonly datatype: Datatype;
  /** Bytes per element in raw contents; 0 for BYTES, whose elements carry a length prefix. */
  readonly size: number;
  /** Typed array holding the elements; undefined for BYTES. */
  readonly array: NumericArrayConstructor | undefined;
}

const INFO: Record<Datatype, DatatypeInfo> = {
  BOOL: { datatype: "BOOL", size: 1, array: Uint8Array },
  UINT8: { datatype: "UINT8", size: 1, array: Uint8Array },
  UINT16: { datatype: "UINT16", size: 2, array: Uint16Array },
  UINT32: { datatype: "UINT32", size: 4, array: Uint32Array },
  UINT64: { datatype: "UINT64", size: 8, array: BigUint64Array },
  INT8: { datatype: "INT8", size: 1, array: Int8Array },
  INT16: { datatype: "INT16", size: 2, array: Int16Array },
  INT32: { datatype: "INT32", size: 4, array: Int32Array },
  INT64: { datatype: "INT64", size: 8, array: BigInt64Array },
  FP16: { datatype: "FP16", size: 2, array: Uint16Array },
  FP32: { datatype: "FP32", size: 4, array: Float32Array },
  FP64: { datatype: "FP64", size: 8, array: Float64Array },
  BYTES: { datatype: "BYTES", size: 0, array: undefined },
};

// Raw contents are little-endian and typed arrays use the host's order; every supported Node
// platform is little-endian, and this makes a big-endian one fail loudly instead of corrupting data.
if (endianness() !== "LE") {
  throw new Error("raw tensor contents are little-endian; this big-endian host is not supported");
}

export function isDatatype(value: string): value is Datatype {
  return Object.hasOwn(INFO, value);
}

export function datatypeInfo(datatype: Datatype): DatatypeInfo {
  return INFO[datatype];
}

/** Bytes of a typed array, as a view (no copy). */
export function bytesOf(data: NumericData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Views raw bytes as elements of `datatype` (which must not be BYTES). Copies only when `bytes` is
 * not aligned for the element size, which a typed array view requires.
 */
export function viewRaw(datatype: Exclude<Datatype, "BYTES">, bytes: Uint8Array): NumericData {
  const { size, array } = INFO[datatype];
  const ArrayType = array as NumericArrayConstructor;
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(
      `${datatype}: expected a multiple of ${size} bytes, got ${bytes.byteLength} bytes`,
    );
  }
  // Uint8Array's slice copies; a Buffer's `slice` would return a view, still misaligned.
  const source = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  return new ArrayType(source.buffer, source.byteOffset, source.byteLength / size);
}

/** Encodes BYTES elements as raw contents: each a 4-byte little-endian length, then the bytes. */
export function encodeBytesElements(elements: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const element of elements) total += 4 + element.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const element of elements) {
    view.setUint32(offset, element.byteLength, true);
    out.set(element, offset + 4);
    offset += 4 + element.byteLength;
  }
  return out;
}

/**
 * Decodes raw BYTES contents holding exactly `count` elements. Elements are views into `bytes`.
 * Throws a RangeError that says what was expected and what came when the framing is wrong.
 */
export function decodeBytesElements(bytes: Uint8Array, count: number): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (elements.length === count) {
      throw new RangeError(
        `BYTES: expected ${count} elements, got ${bytes.byteLength - offset} bytes after the last one`,
      );
    }
    if (offset + 4 > bytes.byteLength) {
      throw new RangeError(
        `BYTES element ${elements.length}: expected a 4-byte length prefix, got ${bytes.byteLength - offset} bytes`,
      );
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) {
      throw new RangeError(
        `BYTES element ${elements.length}: length prefix says ${length} bytes, only ${bytes.byteLength - offset} remain`,
      );
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count) {
    throw new RangeError(`BYTES: expected ${count} elements, got ${elements.length}`);
  }
  return elements;
}

/** Product of a shape's dimensions; throws when a dimension is negative or the product is not a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new RangeError(`shape [${shape.join(", ")}]: dimensions must be non-negative integers`);
    }
    count *= dim;
    if (!Number.isSafeInteger(count)) {
      throw new RangeError(`shape [${shape.join(", ")}]: element count overflows`);
    }
  }
  return count;
}
