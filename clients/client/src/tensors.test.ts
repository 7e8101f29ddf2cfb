import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  InferenceError,
  ModelInferResponseSchema,
  decodeBytesElements,
  encodeBytesElements,
} from "@sluice/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { toInferResult } from "./infer-result.js";
import { type InferInput, decodeOutputs, encodeInputs } from "./tensors.js";

function rejects(fn: () => unknown, code: status, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InferenceError, `expected InferenceError, got ${String(error)}`);
    assert.equal(error.status, code);
    assert.match(error.message, message);
    return true;
  });
}

function response(init: MessageInitShape<typeof ModelInferResponseSchema>) {
  return create(ModelInferResponseSchema, { modelName: "m", ...init });
}

describe("encodeInputs", () => {
  test("numeric data goes as a view of the caller's memory, shape as int64", () => {
    const backing = new Float32Array([9, 1, 2, 3, 4, 5, 6, 9]);
    const data = backing.subarray(1, 7);
    const { tensors, raw } = encodeInputs([{ name: "x", datatype: "FP32", shape: [2, 3], data }]);
    assert.deepEqual(tensors, [{ name: "x", datatype: "FP32", shape: [2n, 3n] }]);
    assert.equal(raw.length, 1);
    const bytes = raw[0]!;
    assert.equal(bytes.buffer, backing.buffer, "no copy");
    assert.equal(bytes.byteOffset, 4);
    assert.equal(bytes.byteLength, 24);
    assert.deepEqual(new Float32Array(bytes.slice().buffer), new Float32Array([1, 2, 3, 4, 5, 6]));
  });

  test("every numeric datatype takes its typed array", () => {
    const inputs: InferInput[] = [
      { name: "b", datatype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) },
      { name: "i8", datatype: "INT8", shape: [1], data: new Int8Array([-1]) },
      { name: "i64", datatype: "INT64", shape: [1], data: new BigInt64Array([-5n]) },
      { name: "u64", datatype: "UINT64", shape: [1], data: new BigUint64Array([5n]) },
      { name: "h", datatype: "FP16", shape: [1], data: new Uint16Array([0x3c00]) },
      { name: "d", datatype: "FP64", shape: [1], data: new Float64Array([0.5]) },
    ];
    const { raw } = encodeInputs(inputs);
    assert.deepEqual(
      raw.map((bytes) => bytes.byteLength),
      [2, 1, 8, 8, 2, 8],
    );
  });

  test("BYTES strings are UTF-8 encoded with length prefixes; Uint8Arrays pass as they are", () => {
    const { raw } = encodeInputs([
      { name: "s", datatype: "BYTES", shape: [3], data: ["hé", "", "x"] },
      { name: "u", datatype: "BYTES", shape: [1], data: [new Uint8Array([0, 255])] },
    ]);
    const strings = decodeBytesElements(raw[0]!, 3).map((element) =>
      Buffer.from(element).toString("utf8"),
    );
    assert.deepEqual(strings, ["hé", "", "x"]);
    assert.deepEqual(raw[1], encodeBytesElements([new Uint8Array([0, 255])]));
  });

  test("a scalar (shape []) holds one element", () => {
    const { raw } = encodeInputs([
      { name: "x", datatype: "INT32", shape: [], data: new Int32Array([7]) },
    ]);
    assert.equal(raw[0]!.byteLength, 4);
  });

  test("too few elements: says expected count and bytes, and what came", () => {
    rejects(
      () =>
        encodeInputs([{ name: "x", datatype: "FP32", shape: [3, 4], data: new Float32Array(11) }]),
      status.INVALID_ARGUMENT,
      /input "x": expected 12 elements of FP32 \(48 bytes\) for shape \[3, 4\], got 11 elements \(44 bytes\)/,
    );
  });

  test("wrong typed array kind names both kinds", () => {
    rejects(
      () => encodeInputs([{ name: "x", datatype: "FP32", shape: [2], data: new Float64Array(2) }]),
      status.INVALID_ARGUMENT,
      /input "x": FP32 expects data as Float32Array, got Float64Array/,
    );
    rejects(
      () => encodeInputs([{ name: "x", datatype: "INT64", shape: [1], data: new Int32Array(1) }]),
      status.INVALID_ARGUMENT,
      /INT64 expects data as BigInt64Array, got Int32Array/,
    );
  });

  test("a plain array for a numeric type gets a hint how to convert it", () => {
    const data = [1, 2] as unknown as Float32Array;
    rejects(
      () => encodeInputs([{ name: "x", datatype: "FP32", shape: [2], data }]),
      status.INVALID_ARGUMENT,
      /got an Array of 2 \(convert with Float32Array\.from\(values\)\)/,
    );
  });

  test("BYTES element count and element kinds are checked", () => {
    rejects(
      () => encodeInputs([{ name: "s", datatype: "BYTES", shape: [2, 2], data: ["a", "b", "c"] }]),
      status.INVALID_ARGUMENT,
      /input "s": expected 4 BYTES elements for shape \[2, 2\], got 3/,
    );
    const data = ["a", 7] as unknown as string[];
    rejects(
      () => encodeInputs([{ name: "s", datatype: "BYTES", shape: [2], data }]),
      status.INVALID_ARGUMENT,
      /BYTES element 1: expected a string or Uint8Array, got number/,
    );
    rejects(
      () => encodeInputs([{ name: "s", datatype: "BYTES", shape: [1], data: new Uint8Array(4) }]),
      status.INVALID_ARGUMENT,
      /BYTES expects an array of strings or Uint8Arrays, got Uint8Array/,
    );
  });

  test("bad shapes, unknown datatypes, missing and duplicate names are refused", () => {
    rejects(
      () =>
        encodeInputs([{ name: "x", datatype: "FP32", shape: [2, -1], data: new Float32Array(2) }]),
      status.INVALID_ARGUMENT,
      /input "x": shape \[2, -1\]: dimensions must be non-negative integers/,
    );
    rejects(
      () =>
        encodeInputs([
          { name: "x", datatype: "BF16" as "FP16", shape: [1], data: new Uint16Array(1) },
        ]),
      status.INVALID_ARGUMENT,
      /input "x": expected a datatype such as FP32, INT64 or BYTES, got "BF16"/,
    );
    rejects(
      () => encodeInputs([{ name: "", datatype: "FP32", shape: [1], data: new Float32Array(1) }]),
      status.INVALID_ARGUMENT,
      /inputs\[0\]\.name: expected a non-empty string/,
    );
    const twice: InferInput = {
      name: "x",
      datatype: "FP32",
      shape: [1],
      data: new Float32Array(1),
    };
    rejects(() => encodeInputs([twice, twice]), status.INVALID_ARGUMENT, /input "x": given twice/);
  });
});

describe("decodeOutputs", () => {
  test("raw numeric contents become typed views; shapes become numbers", () => {
    const raw = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const outputs = decodeOutputs(
      response({
        outputs: [{ name: "y", datatype: "FP32", shape: [2n, 3n] }],
        rawOutputContents: [raw],
      }),
    );
    const y = outputs.get("y");
    assert.ok(y);
    assert.deepEqual(y.shape, [2, 3]);
    assert.ok(y.data instanceof Float32Array);
    assert.equal(y.data.buffer, raw.buffer, "a view, not a copy");
    assert.deepEqual([...y.data], [1, 2, 3, 4, 5, 6]);
  });

  test("unaligned raw contents are copied into an aligned array", () => {
    const backing = new Uint8Array(17);
    backing.set(new Uint8Array(new BigInt64Array([-3n, 4n]).buffer), 1);
    const raw = backing.subarray(1);
    const y = decodeOutputs(
      response({
        outputs: [{ name: "y", datatype: "INT64", shape: [2n] }],
        rawOutputContents: [raw],
      }),
    ).get("y");
    assert.ok(y?.data instanceof BigInt64Array);
    assert.deepEqual([...y.data], [-3n, 4n]);
  });

  test("unaligned raw contents in a Buffer (as received off the wire) are copied too", () => {
    const backing = Buffer.alloc(13);
    Buffer.from(new Float32Array([1.5, -2, 8]).buffer).copy(backing, 1);
    const y = decodeOutputs(
      response({
        outputs: [{ name: "y", datatype: "FP32", shape: [3n] }],
        rawOutputContents: [backing.subarray(1)],
      }),
    ).get("y");
    assert.deepEqual(y?.data, new Float32Array([1.5, -2, 8]));
  });

  test("raw BYTES contents become one Uint8Array per element", () => {
    const raw = encodeBytesElements([Buffer.from("cat"), Buffer.from("dog")]);
    const y = decodeOutputs(
      response({
        outputs: [{ name: "label", datatype: "BYTES", shape: [2n] }],
        rawOutputContents: [raw],
      }),
    ).get("label");
    assert.ok(y);
    assert.deepEqual(
      (y.data as Uint8Array[]).map((element) => Buffer.from(element).toString()),
      ["cat", "dog"],
    );
  });

  test("typed contents become the datatype's typed array", () => {
    const outputs = decodeOutputs(
      response({
        outputs: [
          { name: "f", datatype: "FP32", shape: [2n], contents: { fp32Contents: [0.5, 1.5] } },
          { name: "d", datatype: "FP64", shape: [1n], contents: { fp64Contents: [0.1] } },
          { name: "i", datatype: "INT16", shape: [2n], contents: { intContents: [-2, 3] } },
          { name: "u", datatype: "UINT8", shape: [1n], contents: { uintContents: [200] } },
          {
            name: "l",
            datatype: "INT64",
            shape: [2n],
            contents: { int64Contents: [-(2n ** 40n), 7n] },
          },
          {
            name: "ul",
            datatype: "UINT64",
            shape: [1n],
            contents: { uint64Contents: [2n ** 63n] },
          },
          { name: "b", datatype: "BOOL", shape: [2n], contents: { boolContents: [true, false] } },
          {
            name: "s",
            datatype: "BYTES",
            shape: [1n],
            contents: { bytesContents: [Buffer.from("x")] },
          },
        ],
      }),
    );
    const data = (name: string) => outputs.get(name)?.data;
    assert.deepEqual(data("f"), new Float32Array([0.5, 1.5]));
    assert.deepEqual(data("d"), new Float64Array([0.1]));
    assert.deepEqual(data("i"), new Int16Array([-2, 3]));
    assert.deepEqual(data("u"), new Uint8Array([200]));
    assert.deepEqual(data("l"), new BigInt64Array([-(2n ** 40n), 7n]));
    assert.deepEqual(data("ul"), new BigUint64Array([2n ** 63n]));
    assert.deepEqual(data("b"), new Uint8Array([1, 0]));
    assert.equal(Buffer.from((data("s") as Uint8Array[])[0]!).toString(), "x");
  });

  test("an element count that does not match the shape is a malformed response (INTERNAL)", () => {
    rejects(
      () =>
        decodeOutputs(
          response({
            outputs: [
              { name: "y", datatype: "FP32", shape: [3n], contents: { fp32Contents: [1, 2] } },
            ],
          }),
        ),
      status.INTERNAL,
      /malformed response: output "y": expected 3 elements of FP32 for shape \[3\], got 2 in typed contents/,
    );
    rejects(
      () =>
        decodeOutputs(
          response({
            outputs: [{ name: "y", datatype: "FP32", shape: [3n] }],
            rawOutputContents: [new Uint8Array(10)],
          }),
        ),
      status.INTERNAL,
      /output "y": FP32: expected a multiple of 4 bytes, got 10 bytes/,
    );
  });

  test("raw contents for some outputs but not all, unknown datatypes, FP16 without raw: INTERNAL", () => {
    rejects(
      () =>
        decodeOutputs(
          response({
            outputs: [
              { name: "a", datatype: "FP32", shape: [0n] },
              { name: "b", datatype: "FP32", shape: [0n] },
            ],
            rawOutputContents: [new Uint8Array(0)],
          }),
        ),
      status.INTERNAL,
      /expected raw_output_contents for all 2 outputs or none, got 1/,
    );
    rejects(
      () => decodeOutputs(response({ outputs: [{ name: "y", datatype: "BF16", shape: [1n] }] })),
      status.INTERNAL,
      /output "y": expected a datatype such as FP32 or BYTES, got "BF16"/,
    );
    rejects(
      () => decodeOutputs(response({ outputs: [{ name: "h", datatype: "FP16", shape: [1n] }] })),
      status.INTERNAL,
      /output "h": FP16 has no typed contents field, so expected raw_output_contents, got none/,
    );
  });
});

describe("InferResult.output", () => {
  test("returns the named output, or throws naming the outputs present", () => {
    const result = toInferResult(
      response({
        modelVersion: "2",
        id: "r1",
        outputs: [
          { name: "label", datatype: "INT32", shape: [1n], contents: { intContents: [1] } },
          { name: "scores", datatype: "FP32", shape: [1n], contents: { fp32Contents: [0.5] } },
        ],
      }),
    );
    assert.equal(result.modelVersion, "2");
    assert.equal(result.id, "r1");
    assert.deepEqual(result.output("label").data, new Int32Array([1]));
    rejects(
      () => result.output("probs"),
      status.INVALID_ARGUMENT,
      /output "probs" is not in the response of model "m"; outputs present: "label", "scores"/,
    );
  });
});
