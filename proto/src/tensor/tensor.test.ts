import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { concatRows, sliceRows, zeros, type Tensor } from "./tensor.js";

const fp32 = (shape: number[], values: number[]): Tensor => ({
  datatype: "FP32",
  shape,
  data: new Float32Array(values),
});
const bytes = (...texts: string[]): Uint8Array[] => texts.map((text) => Buffer.from(text));

describe("zeros", () => {
  test("a typed array of the shape's element count, BYTES as empty elements", () => {
    assert.deepEqual(zeros("INT64", [2, 3]), {
      datatype: "INT64",
      shape: [2, 3],
      data: new BigInt64Array(6),
    });
    const strings = zeros("BYTES", [2]);
    assert.deepEqual(strings.data, [new Uint8Array(0), new Uint8Array(0)]);
    assert.equal(zeros("FP32", []).data.length, 1, "a scalar holds one element");
  });
});

describe("concatRows", () => {
  test("joins rows in order into one fresh array; the batch dimension is the sum", () => {
    const a = fp32([1, 2], [1, 2]);
    const b = fp32([2, 2], [3, 4, 5, 6]);
    const joined = concatRows([a, b]);
    assert.deepEqual(joined.shape, [3, 2]);
    assert.deepEqual(joined.data, new Float32Array([1, 2, 3, 4, 5, 6]));
    assert.notEqual((joined.data as Float32Array).buffer, (a.data as Float32Array).buffer);
  });

  test("one tensor comes back as it is", () => {
    const only = fp32([1, 2], [1, 2]);
    assert.equal(concatRows([only]), only);
  });

  test("views into larger buffers are copied from their own elements only", () => {
    const backing = new Int32Array([9, 1, 2, 9, 3, 9]);
    const joined = concatRows([
      { datatype: "INT32", shape: [2], data: backing.subarray(1, 3) },
      { datatype: "INT32", shape: [1], data: backing.subarray(4, 5) },
    ]);
    assert.deepEqual(joined.data, new Int32Array([1, 2, 3]));
  });

  test("BYTES elements are joined as they are", () => {
    const joined = concatRows([
      { datatype: "BYTES", shape: [1], data: bytes("a") },
      { datatype: "BYTES", shape: [2], data: bytes("b", "c") },
    ]);
    assert.deepEqual(joined.shape, [3]);
    assert.deepEqual(
      (joined.data as Uint8Array[]).map((element) => Buffer.from(element).toString()),
      ["a", "b", "c"],
    );
  });

  test("refuses tensors whose datatype or inner dimensions differ, saying which", () => {
    assert.throws(() => concatRows([fp32([1, 2], [1, 2]), fp32([1, 3], [1, 2, 3])]), {
      name: "RangeError",
      message: "concatRows: expected FP32 tensors of shape [n, 2], got FP32 [1, 3]",
    });
    assert.throws(
      () =>
        concatRows([fp32([1], [1]), { datatype: "FP64", shape: [1], data: new Float64Array(1) }]),
      /expected FP32 tensors of shape \[n, \], got FP64 \[1\]/,
    );
    assert.throws(() => concatRows([]), /expected at least one tensor, got none/);
  });
});

describe("sliceRows", () => {
  test("rows of a batched tensor, as a view of its data", () => {
    const batch = fp32([3, 2], [1, 2, 3, 4, 5, 6]);
    const middle = sliceRows(batch, 1, 2);
    assert.deepEqual(middle.shape, [2, 2]);
    assert.deepEqual(middle.data, new Float32Array([3, 4, 5, 6]));
    assert.equal((middle.data as Float32Array).buffer, (batch.data as Float32Array).buffer);
  });

  test("BYTES rows", () => {
    const batch: Tensor = { datatype: "BYTES", shape: [3, 1], data: bytes("a", "b", "c") };
    const last = sliceRows(batch, 2, 1);
    assert.deepEqual(last.shape, [1, 1]);
    assert.deepEqual(last.data, bytes("c"));
  });

  test("concatenating then slicing gives each part back", () => {
    const parts = [
      fp32([1, 3], [1, 2, 3]),
      fp32([2, 3], [4, 5, 6, 7, 8, 9]),
      fp32([1, 3], [0, 0, 1]),
    ];
    const joined = concatRows(parts);
    let start = 0;
    for (const part of parts) {
      const rows = part.shape[0]!;
      assert.deepEqual(sliceRows(joined, start, rows), part);
      start += rows;
    }
  });

  test("refuses rows outside the batch", () => {
    assert.throws(() => sliceRows(fp32([2, 1], [1, 2]), 1, 2), {
      name: "RangeError",
      message: "sliceRows: expected rows within [0, 2), got 2 from 1 of shape [2, 1]",
    });
    assert.throws(() => sliceRows(fp32([], [1]), 0, 1), /expected rows within a batch dimension/);
  });
});
