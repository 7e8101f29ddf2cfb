/**
 * A tensor in memory, and the operations a batching server needs along its first (batch)
 * dimension: zeros of a shape, concatenation of requests' rows into one run, and slicing the run's
 * outputs back into each request's rows as views.
 */
import { arrayOf, type Datatype, type NumericData, type TensorData } from "./datatype.js";
import { elementCount, formatShape } from "./shape.js";

/** A tensor in memory: row-major elements (BYTES: one Uint8Array per element). */
export interface Tensor {
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** A tensor of `shape` whose every element is zero (BYTES: empty). */
export function zeros(datatype: Datatype, shape: readonly number[]): Tensor {
  const count = elementCount(shape);
  if (datatype === "BYTES") {
    return { datatype, shape, data: Array.from({ length: count }, () => new Uint8Array(0)) };
  }
  return { datatype, shape, data: new (arrayOf(datatype))(count) };
}

/**
 * Concatenates tensors along the batch dimension into one freshly allocated tensor (one tensor is
 * returned as it is). All must have the same datatype and the same non-batch dimensions.
 */
export function concatRows(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0];
  if (first === undefined)
    throw new RangeError("concatRows: expected at least one tensor, got none");
  if (tensors.length === 1) return first;
  const inner = first.shape.slice(1);
  let rows = 0;
  for (const tensor of tensors) {
    if (
      tensor.datatype !== first.datatype ||
      tensor.shape.length !== first.shape.length ||
      tensor.shape.some((dim, i) => i > 0 && dim !== first.shape[i])
    ) {
      throw new RangeError(
        `concatRows: expected ${first.datatype} tensors of shape [n, ${inner.join(", ")}], got ${tensor.datatype} ${formatShape(tensor.shape)}`,
      );
    }
    rows += tensor.shape[0]!;
  }
  const shape = [rows, ...inner];
  if (first.datatype === "BYTES") {
    return {
      datatype: first.datatype,
      shape,
      data: tensors.flatMap((t) => t.data as readonly Uint8Array[]),
    };
  }
  let total = 0;
  for (const tensor of tensors) total += (tensor.data as NumericData).length;
  const data = new (arrayOf(first.datatype))(total);
  let offset = 0;
  for (const tensor of tensors) {
    const part = tensor.data as NumericData;
    (data as Float32Array).set(part as Float32Array, offset);
    offset += part.length;
  }
  return { datatype: first.datatype, shape, data };
}

/** Rows [start, start + rows) of a tensor with a batch dimension, as a view of its data. */
export function sliceRows(tensor: Tensor, start: number, rows: number): Tensor {
  const total = tensor.shape[0];
  if (total === undefined || start < 0 || rows < 0 || start + rows > total) {
    throw new RangeError(
      `sliceRows: expected rows within ${total === undefined ? "a batch dimension" : `[0, ${total})`}, got ${rows} from ${start} of shape ${formatShape(tensor.shape)}`,
    );
  }
  const inner = tensor.shape.slice(1);
  const perRow = elementCount(inner);
  const from = start * perRow;
  const to = (start + rows) * perRow;
  const data =
    tensor.datatype === "BYTES"
      ? (tensor.data as readonly Uint8Array[]).slice(from, to)
      : (tensor.data as NumericData).subarray(from, to);
  return { datatype: tensor.datatype, shape: [rows, ...inner], data };
}
