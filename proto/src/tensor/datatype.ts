/**
 * The tensor datatypes of the Open Inference Protocol: how wide each element is, which typed array
 * holds it, and which integers it can hold.
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

/** Every datatype whose elements have a fixed size: all but BYTES. */
export type NumericDatatype = Exclude<Datatype, "BYTES">;

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

export interface NumericArrayConstructor {
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
  new (length: number): NumericData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericData;
}

export interface DatatypeInfo {
  readonly datatype: Datatype;
  /** Bytes per element in raw contents; 0 for BYTES, whose elements carry a length prefix. */
  readonly size: number;
  /** Typed array holding the elements; undefined for BYTES. */
  readonly array: NumericArrayConstructor | undefined;
  /** Smallest and largest value of an integer datatype; undefined for BOOL, floats and BYTES. */
  readonly range: readonly [min: bigint, max: bigint] | undefined;
}

const signed = (bits: bigint) => [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n] as const;
const unsigned = (bits: bigint) => [0n, 2n ** bits - 1n] as const;

const INFO: Record<Datatype, DatatypeInfo> = {
  BOOL: { datatype: "BOOL", size: 1, array: Uint8Array, range: undefined },
  UINT8: { datatype: "UINT8", size: 1, array: Uint8Array, range: unsigned(8n) },
  UINT16: { datatype: "UINT16", size: 2, array: Uint16Array, range: unsigned(16n) },
  UINT32: { datatype: "UINT32", size: 4, array: Uint32Array, range: unsigned(32n) },
  UINT64: { datatype: "UINT64", size: 8, array: BigUint64Array, range: unsigned(64n) },
  INT8: { datatype: "INT8", size: 1, array: Int8Array, range: signed(8n) },
  INT16: { datatype: "INT16", size: 2, array: Int16Array, range: signed(16n) },
  INT32: { datatype: "INT32", size: 4, array: Int32Array, range: signed(32n) },
  INT64: { datatype: "INT64", size: 8, array: BigInt64Array, range: signed(64n) },
  FP16: { datatype: "FP16", size: 2, array: Uint16Array, range: undefined },
  FP32: { datatype: "FP32", size: 4, array: Float32Array, range: undefined },
  FP64: { datatype: "FP64", size: 8, array: Float64Array, range: undefined },
  BYTES: { datatype: "BYTES", size: 0, array: undefined, range: undefined },
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

/** The typed array that holds elements of a fixed-size datatype. */
export function arrayOf(datatype: NumericDatatype): NumericArrayConstructor {
  return INFO[datatype].array!;
}

/** Whether elements of `datatype` are 64-bit integers, held as bigints. */
export function isBigIntDatatype(datatype: Datatype): datatype is "INT64" | "UINT64" {
  return datatype === "INT64" || datatype === "UINT64";
}
