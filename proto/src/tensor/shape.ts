/** Tensor shapes: element counts and how messages show them. */

/** `[2, 3]`, as every message shows a shape. */
export function formatShape(shape: readonly (number | bigint)[]): string {
  return `[${shape.join(", ")}]`;
}

/** Product of a shape's dimensions; throws when a dimension is negative or the product is not a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new RangeError(`shape ${formatShape(shape)}: dimensions must be non-negative integers`);
    }
    count *= dim;
    if (!Number.isSafeInteger(count)) {
      throw new RangeError(`shape ${formatShape(shape)}: element count overflows`);
    }
  }
  return count;
}

/** Whether `shape` fits `declared`, where -1 in `declared` matches any size. */
export function shapeMatches(declared: readonly number[], shape: readonly number[]): boolean {
  return (
    declared.length === shape.length && declared.every((dim, i) => dim === -1 || dim === shape[i])
  );
}
