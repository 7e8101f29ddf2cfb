import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { InferTensorContentsSchema } from "../gen/inference/grpc_service_pb.js";
import {
  contentsFieldName,
  fromContents,
  hasTypedContents,
  toContents,
  typedArrayFrom,
} from "./contents.js";

describe("typed contents", () => {
  test("each datatype reads from its field into its typed array", () => {
    const contents = create(InferTensorContentsSchema, {
      boolContents: [true, false],
      intContents: [-2, 300],
      int64Contents: [-(2n ** 40n)],
      uintContents: [7],
      uint64Contents: [2n ** 63n],
      fp32Contents: [0.5],
      fp64Contents: [0.1],
      bytesContents: [Buffer.from("x")],
    });
    assert.deepEqual(fromContents("BOOL", contents), new Uint8Array([1, 0]));
    assert.deepEqual(fromContents("INT16", contents), new Int16Array([-2, 300]));
    assert.deepEqual(
      fromContents("INT8", contents),
      new Int8Array([-2, 44]),
      "wraps as a typed array does",
    );
    assert.deepEqual(fromContents("INT64", contents), new BigInt64Array([-(2n ** 40n)]));
    assert.deepEqual(fromContents("UINT32", contents), new Uint32Array([7]));
    assert.deepEqual(fromContents("UINT64", contents), new BigUint64Array([2n ** 63n]));
    assert.deepEqual(fromContents("FP32", contents), new Float32Array([0.5]));
    assert.deepEqual(fromContents("FP64", contents), new Float64Array([0.1]));
    assert.equal(fromContents("BYTES", contents).length, 1);
    assert.deepEqual(fromContents("FP16", contents), new Uint16Array(0), "FP16 has no field");
    assert.deepEqual(fromContents("FP32", undefined), new Float32Array(0));
  });

  test("toContents writes the field fromContents reads", () => {
    const cases = [
      ["BOOL", new Uint8Array([1, 0, 1])],
      ["INT8", new Int8Array([-5, 5])],
      ["UINT16", new Uint16Array([65535])],
      ["INT64", new BigInt64Array([-(2n ** 62n)])],
      ["UINT64", new BigUint64Array([2n ** 64n - 1n])],
      ["FP32", new Float32Array([1.25, -0])],
      ["FP64", new Float64Array([Math.PI])],
    ] as const;
    for (const [datatype, data] of cases) {
      assert.deepEqual(fromContents(datatype, toContents(datatype, data)), data, datatype);
    }
    const strings = [Buffer.from("a"), Buffer.from("")];
    assert.deepEqual(toContents("BYTES", strings).bytesContents, strings);
    assert.deepEqual(toContents("BOOL", new Uint8Array([2, 0])).boolContents, [true, false]);
    assert.throws(() => toContents("FP16", new Uint16Array(1)), /FP16 has no typed contents field/);
  });

  test("field names as the .proto spells them, for messages", () => {
    assert.equal(contentsFieldName("INT16"), "int_contents");
    assert.equal(contentsFieldName("UINT64"), "uint64_contents");
    assert.equal(contentsFieldName("BYTES"), "bytes_contents");
    assert.equal(contentsFieldName("FP16"), undefined);
  });

  test("hasTypedContents sees an element in any field", () => {
    assert.equal(hasTypedContents(create(InferTensorContentsSchema)), false);
    assert.equal(
      hasTypedContents(create(InferTensorContentsSchema, { uint64Contents: [1n] })),
      true,
    );
  });

  test("typedArrayFrom converts numbers, bigints and booleans to the datatype's elements", () => {
    assert.deepEqual(typedArrayFrom("INT64", [1, -2]), new BigInt64Array([1n, -2n]));
    assert.deepEqual(typedArrayFrom("UINT8", [7n, 255n]), new Uint8Array([7, 255]));
    assert.deepEqual(typedArrayFrom("BOOL", [true, false]), new Uint8Array([1, 0]));
    assert.deepEqual(typedArrayFrom("FP16", [0x3c00]), new Uint16Array([0x3c00]), "raw words");
  });
});
