/**
 * Typed tensor contents (`InferTensorContents`): the protocol's repeated fields, one per family of
 * datatypes (INT8, INT16 and INT32 share `int_contents`). FP16 has no field: it travels raw only.
 */
import { create } from "@bufbuild/protobuf";
import {
  InferTensorContentsSchema,
  type InferTensorContents,
} from "../gen/inference/grpc_service_pb.js";
import {
  arrayOf,
  isBigIntDatatype,
  type Datatype,
  type NumericData,
  type NumericDatatype,
  type TensorData,
} from "./datatype.js";

type ContentsKey = Exclude<keyof InferTensorContents, "$typeName" | "$unknown">;

/** The field carrying each datatype's elements. */
const FIELDS: Record<Exclude<Datatype, "FP16">, ContentsKey> = {
  BOOL: "boolContents",
  INT8: "intContents",
  INT16: "intContents",
  INT32: "intContents",
  INT64: "int64Contents",
  UINT8: "uintContents",
  UINT16: "uintContents",
  UINT32: "uintContents",
  UINT64: "uint64Contents",
  FP32: "fp32Contents",
  FP64: "fp64Contents",
  BYTES: "bytesContents",
};

const KEYS = [...new Set(Object.values(FIELDS))];

/** The .proto name of the field carrying `datatype` (`int_contents`); undefined for FP16. */
export function contentsFieldName(datatype: Datatype): string | undefined {
  return datatype === "FP16" ? undefined : FIELDS[datatype].replace(/Contents$/, "_contents");
}

/**
 * Elements of a fixed-size datatype as its typed array, converted as a typed array converts
 * (integers wrap; BOOL is 1 for anything truthy). FP16 values are taken as raw 16-bit words.
 */
export function typedArrayFrom(
  datatype: NumericDatatype,
  values: ArrayLike<number> | ArrayLike<bigint> | ArrayLike<boolean>,
): NumericData {
  const data = new (arrayOf(datatype))(values.length) as { [index: number]: number | bigint };
  const toElement: (value: number | bigint | boolean) => number | bigint =
    datatype === "BOOL"
      ? (value) => (value ? 1 : 0)
      : isBigIntDatatype(datatype)
        ? (value) => BigInt(value)
        : Number;
  for (let i = 0; i < values.length; i++) data[i] = toElement(values[i]!);
  return data as NumericData;
}

/**
 * The elements of typed contents as `datatype`'s data, however many there are (the caller checks
 * the count against the shape). FP16, which has no typed field, reads as no elements.
 */
export function fromContents(
  datatype: Datatype,
  contents: InferTensorContents | undefined,
): TensorData {
  if (datatype === "BYTES") return contents?.bytesContents ?? [];
  if (datatype === "FP16") return new Uint16Array(0);
  const values = contents?.[FIELDS[datatype]] ?? [];
  return typedArrayFrom(datatype, values as ArrayLike<number>);
}

/** Typed contents holding `data`. Throws for FP16, which has no typed field. */
export function toContents(datatype: Datatype, data: TensorData): InferTensorContents {
  if (datatype === "FP16") throw new RangeError("FP16 has no typed contents field");
  const values =
    datatype === "BYTES"
      ? [...(data as readonly Uint8Array[])]
      : datatype === "BOOL"
        ? Array.from(data as Uint8Array, (value) => value !== 0)
        : Array.from(data as ArrayLike<number | bigint>);
  return create(InferTensorContentsSchema, { [FIELDS[datatype]]: values });
}

/** Whether any typed contents field holds an element. */
export function hasTypedContents(contents: InferTensorContents): boolean {
  return KEYS.some((key) => (contents[key] as readonly unknown[]).length > 0);
}
