/**
 * Everything Sluice knows about tensors, shared by the server and the client so both read and write
 * them the same way: datatypes, raw and typed contents, BYTES framing, FP16, shapes, and rows along
 * the batch dimension.
 */
export {
  DATATYPES,
  arrayOf,
  datatypeInfo,
  isBigIntDatatype,
  isDatatype,
  type Datatype,
  type DatatypeInfo,
  type NumericArrayConstructor,
  type NumericData,
  type NumericDatatype,
  type TensorData,
} from "./datatype.js";
export { decodeBytesElements, encodeBytesElements } from "./bytes-framing.js";
export { bytesOf, readRaw, viewRaw } from "./raw.js";
export {
  contentsFieldName,
  fromContents,
  hasTypedContents,
  toContents,
  typedArrayFrom,
} from "./contents.js";
export { elementCount, formatShape, shapeMatches } from "./shape.js";
export { float16ToNumber, numberToFloat16 } from "./float16.js";
export { concatRows, sliceRows, zeros, type Tensor } from "./tensor.js";
