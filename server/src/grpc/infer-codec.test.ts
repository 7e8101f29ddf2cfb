import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import {
  InferenceError,
  ModelInferRequestSchema,
  type ModelInferRequest,
  bytesOf,
  decodeBytesElements,
  encodeBytesElements,
  type Tensor,
} from "@sluice/proto";
import { resolveModelConfig } from "../repository/model-config.js";
import { decodeInferRequest, encodeInferResponse, type CodecVersion } from "./infer-codec.js";

/** A version taking x: FP32 [-1, 3] and y: BYTES [-1], answering z: FP32 [-1, 2] and label: BYTES [-1]. */
function version(config: object = {}, maxBatchSize = 4): CodecVersion {
  return {
    model: "m",
    version: 2,
    inputs: [
      { name: "x", datatype: "FP32", shape: [-1, 3] },
      { name: "y", datatype: "BYTES", shape: [-1] },
    ],
    outputs: [
      { name: "z", datatype: "FP32", shape: [-1, 2] },
      { name: "label", datatype: "BYTES", shape: [-1] },
    ],
    maxBatchSize,
    config: resolveModelConfig("m", config, "m/config.yaml"),
  };
}

const LIMITS = { maxElementsPerInput: 1_000 };
const words = (...texts: string[]) => texts.map((text) => Buffer.from(text));

type RequestInit = MessageInitShape<typeof ModelInferRequestSchema>;

/** A raw request with `rows` rows of x (0, 1, 2, …) and of y ("a", "b", …). */
function rawRequest(rows: number, init: RequestInit = {}) {
  const x = Float32Array.from({ length: rows * 3 }, (_, i) => i);
  const y = words(...Array.from({ length: rows }, (_, i) => String.fromCharCode(97 + i)));
  const defaults: RequestInit = {
    modelName: "m",
    inputs: [
      { name: "x", datatype: "FP32", shape: [BigInt(rows), 3n] },
      { name: "y", datatype: "BYTES", shape: [BigInt(rows)] },
    ],
    rawInputContents: [bytesOf(x), encodeBytesElements(y)],
  };
  return create(ModelInferRequestSchema, { ...defaults, ...init });
}

/** A one-row request with typed contents: x holds `x`, y holds `y`. */
function typedRequest(x: number[], y: string[], init: RequestInit = {}) {
  return create(ModelInferRequestSchema, {
    modelName: "m",
    inputs: [
      { name: "x", datatype: "FP32", shape: [1n, 3n], contents: { fp32Contents: x } },
      { name: "y", datatype: "BYTES", shape: [1n], contents: { bytesContents: words(...y) } },
    ],
    ...init,
  });
}

/** Asserts decoding `request` fails with INVALID_ARGUMENT and `message` as the details. */
function refuses(
  request: ModelInferRequest,
  message: RegExp | string,
  against: CodecVersion = version(),
  limits = LIMITS,
): void {
  assert.throws(
    () => decodeInferRequest(request, against, limits),
    (error: unknown) => {
      assert.ok(error instanceof InferenceError, String(error));
      assert.equal(error.status, status.INVALID_ARGUMENT);
      if (typeof message === "string") assert.equal(error.details, message);
      else assert.match(error.details, message);
      return true;
    },
  );
}

describe("decodeInferRequest", () => {
  test("raw inputs are views of the request's bytes; rows come from the batch dimension", () => {
    const request = rawRequest(2);
    const decoded = decodeInferRequest(request, version(), LIMITS);
    const x = decoded.inputs.get("x")!;
    assert.deepEqual(x.shape, [2, 3]);
    assert.deepEqual(x.data, new Float32Array([0, 1, 2, 3, 4, 5]));
    assert.equal((x.data as Float32Array).buffer, request.rawInputContents[0]!.buffer, "no copy");
    const y = decoded.inputs.get("y")!;
    assert.deepEqual(
      (y.data as Uint8Array[]).map((e) => Buffer.from(e).toString()),
      ["a", "b"],
    );
    assert.equal(decoded.rows, 2);
    assert.deepEqual(decoded.outputNames, ["z", "label"], "every output when none is asked for");
    assert.equal(decoded.rawOutput, true, "raw in, raw out");
    assert.equal(decoded.priority, undefined);
    assert.equal(decoded.timeoutMicros, undefined);
  });

  test("typed contents become typed arrays, and ask for typed outputs", () => {
    const decoded = decodeInferRequest(
      typedRequest([0.5, 1, 2], ["q"], { outputs: [{ name: "label" }] }),
      version(),
      LIMITS,
    );
    assert.deepEqual(decoded.inputs.get("x")!.data, new Float32Array([0.5, 1, 2]));
    assert.deepEqual(decoded.outputNames, ["label"]);
    assert.equal(decoded.rawOutput, false);
  });

  test("element counts, byte lengths and BYTES framing are checked against the shape", () => {
    refuses(
      rawRequest(1, {
        rawInputContents: [new Uint8Array(8), encodeBytesElements(words("a"))],
      }),
      'input "x": expected 3 elements of FP32 (12 bytes), got 8 bytes',
    );
    refuses(
      rawRequest(2, {
        rawInputContents: [new Uint8Array(24), encodeBytesElements(words("a"))],
      }),
      'input "y": BYTES: expected 2 elements, got 1',
    );
    refuses(
      typedRequest([1, 2], ["a"]),
      'input "x": expected 3 FP32 elements in contents.fp32_contents, got 2',
    );
  });

  test("names, datatypes, shapes and batch sizes must match the version", () => {
    /** One row, with x described as `x` and y as it should be. */
    const withX = (x: NonNullable<RequestInit["inputs"]>[number]) =>
      rawRequest(1, { inputs: [x, { name: "y", datatype: "BYTES", shape: [1n] }] });
    refuses(
      withX({ name: "w", datatype: "FP32", shape: [1n, 3n] }),
      'unexpected input "w": model "m" takes "x", "y"',
    );
    refuses(
      withX({ name: "x", datatype: "FP64", shape: [1n, 3n] }),
      'input "x": expected datatype FP32, got "FP64"',
    );
    refuses(
      withX({ name: "x", datatype: "FP32", shape: [1n, 4n] }),
      'input "x": expected shape [-1, 3], got [1, 4]',
    );
    refuses(rawRequest(5), 'input "x": expected a batch size from 1 to 4 (max_batch_size), got 5');
    refuses(
      rawRequest(2, {
        inputs: [
          { name: "x", datatype: "FP32", shape: [2n, 3n] },
          { name: "y", datatype: "BYTES", shape: [1n] },
        ],
      }),
      'input "y": batch size 1 differs from the other inputs\' 2',
    );
    refuses(
      rawRequest(1, {
        inputs: [{ name: "x", datatype: "FP32", shape: [1n, 3n] }],
        rawInputContents: [new Uint8Array(12)],
      }),
      'missing input "y": model "m" takes "x", "y"',
    );
    refuses(
      rawRequest(4),
      'input "x": shape [4, 3] has more than 10 elements, the most one input may carry',
      version(),
      { maxElementsPerInput: 10 },
    );
  });

  test("raw contents go for every input or none, never beside typed contents", () => {
    refuses(
      rawRequest(1, { rawInputContents: [new Uint8Array(12)] }),
      /raw_input_contents: expected one entry per input \(2\), got 1/,
    );
    const typedToo = rawRequest(1, {
      inputs: [
        { name: "x", datatype: "FP32", shape: [1n, 3n], contents: { fp32Contents: [1, 2, 3] } },
        { name: "y", datatype: "BYTES", shape: [1n] },
      ],
    });
    refuses(typedToo, 'input "x": has both contents and raw_input_contents; send one');
  });

  test("outputs must exist and be asked for once", () => {
    refuses(
      rawRequest(1, { outputs: [{ name: "p" }] }),
      'unknown output "p": model "m" has "z", "label"',
    );
    refuses(
      rawRequest(1, { outputs: [{ name: "z" }, { name: "z" }] }),
      "an output is requested more than once",
    );
  });

  test("parameters: priority within the model's levels, timeout, binary_data_output", () => {
    const parameters = (priority: bigint) => ({
      priority: { parameterChoice: { case: "int64Param" as const, value: priority } },
      timeout: { parameterChoice: { case: "int64Param" as const, value: 5_000n } },
      binary_data_output: { parameterChoice: { case: "boolParam" as const, value: false } },
    });
    const prioritised = version({ dynamic_batching: { priority_levels: 2 } });
    const decoded = decodeInferRequest(
      rawRequest(1, { parameters: parameters(2n) }),
      prioritised,
      LIMITS,
    );
    assert.equal(decoded.priority, 2);
    assert.equal(decoded.timeoutMicros, 5_000);
    assert.equal(decoded.rawOutput, false);
    refuses(
      rawRequest(1, { parameters: parameters(3n) }),
      'parameter "priority": expected 1..2, got 3',
      prioritised,
    );
    refuses(
      rawRequest(1, { parameters: parameters(1n) }),
      'parameter "priority": model "m" has no priority levels, got 1',
    );
    refuses(
      rawRequest(1, {
        parameters: { timeout: { parameterChoice: { case: "stringParam", value: "soon" } } },
      }),
      'parameter "timeout": expected a non-negative integer, got stringParam soon',
    );
  });

  test("a model without a batch dimension takes one request as it is", () => {
    const unbatched: CodecVersion = {
      ...version({ max_batch_size: 0 }, 0),
      inputs: [{ name: "x", datatype: "INT64", shape: [2] }],
    };
    const decoded = decodeInferRequest(
      create(ModelInferRequestSchema, {
        inputs: [
          { name: "x", datatype: "INT64", shape: [2n], contents: { int64Contents: [1n, -1n] } },
        ],
      }),
      unbatched,
      LIMITS,
    );
    assert.equal(decoded.rows, 1);
    assert.deepEqual(decoded.inputs.get("x")!.data, new BigInt64Array([1n, -1n]));
  });
});

describe("encodeInferResponse", () => {
  const outputs = new Map<string, Tensor>([
    ["z", { datatype: "FP32", shape: [1, 2], data: new Float32Array([0.25, 0.75]) }],
    ["label", { datatype: "BYTES", shape: [1], data: words("fraud") }],
  ]);
  const request = create(ModelInferRequestSchema, { modelName: "m", id: "r-1" });

  test("raw outputs: numeric bytes as views, BYTES length-prefixed; names, version and id", () => {
    const response = encodeInferResponse(request, version(), ["z", "label"], outputs, true);
    assert.equal(response.modelName, "m");
    assert.equal(response.modelVersion, "2");
    assert.equal(response.id, "r-1");
    assert.deepEqual(
      response.outputs.map((o) => [o.name, o.datatype, o.shape, o.contents]),
      [
        ["z", "FP32", [1n, 2n], undefined],
        ["label", "BYTES", [1n], undefined],
      ],
    );
    const z = outputs.get("z")!.data as Float32Array;
    assert.equal(response.rawOutputContents[0]!.buffer, z.buffer, "no copy");
    assert.deepEqual(
      decodeBytesElements(response.rawOutputContents[1]!, 1).map((e) => Buffer.from(e).toString()),
      ["fraud"],
    );
  });

  test("typed outputs fill the datatype's contents field; only the requested outputs", () => {
    const response = encodeInferResponse(request, version(), ["z"], outputs, false);
    assert.deepEqual(response.rawOutputContents, []);
    assert.equal(response.outputs.length, 1);
    assert.deepEqual(response.outputs[0]!.contents?.fp32Contents, [0.25, 0.75]);
  });

  test("one FP16 output makes the whole response raw: FP16 has no typed field", () => {
    const half = new Map<string, Tensor>([
      ...outputs,
      ["h", { datatype: "FP16", shape: [1], data: new Uint16Array([0x3c00]) }],
    ]);
    const response = encodeInferResponse(request, version(), ["z", "h"], half, false);
    assert.equal(response.rawOutputContents.length, 2);
    assert.equal(response.outputs[0]!.contents, undefined);
  });
});
