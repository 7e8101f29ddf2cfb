import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { buildInferRequest, modelVersion } from "./infer-request.js";
import type { InferInput } from "./tensors.js";

const input: InferInput = { name: "x", datatype: "FP32", shape: [1], data: new Float32Array([1]) };

describe("buildInferRequest", () => {
  test("maps options onto the request", () => {
    const request = buildInferRequest("m", [input], {
      version: 3,
      id: "req-1",
      outputs: ["y", "z"],
      priority: 2,
      timeoutMicros: 5_000,
    });
    assert.equal(request.modelName, "m");
    assert.equal(request.modelVersion, "3");
    assert.equal(request.id, "req-1");
    assert.deepEqual(
      request.outputs.map((output) => output.name),
      ["y", "z"],
    );
    assert.deepEqual(request.parameters.priority?.parameterChoice, {
      case: "int64Param",
      value: 2n,
    });
    assert.deepEqual(request.parameters.timeout?.parameterChoice, {
      case: "int64Param",
      value: 5_000n,
    });
    assert.equal(request.rawInputContents.length, 1);
    assert.equal(request.inputs[0]?.contents, undefined, "raw contents only");
  });

  test("parameters keep their kind: int64, double, bool, string, uint64 beyond int64", () => {
    const { parameters } = buildInferRequest("m", [input], {
      parameters: { n: 4, f: 0.25, b: true, s: "x", big: -(2n ** 63n), huge: 2n ** 64n - 1n },
    });
    assert.deepEqual(parameters.n?.parameterChoice, { case: "int64Param", value: 4n });
    assert.deepEqual(parameters.f?.parameterChoice, { case: "doubleParam", value: 0.25 });
    assert.deepEqual(parameters.b?.parameterChoice, { case: "boolParam", value: true });
    assert.deepEqual(parameters.s?.parameterChoice, { case: "stringParam", value: "x" });
    assert.deepEqual(parameters.big?.parameterChoice, { case: "int64Param", value: -(2n ** 63n) });
    assert.deepEqual(parameters.huge?.parameterChoice, {
      case: "uint64Param",
      value: 2n ** 64n - 1n,
    });
  });

  test("refuses what the server could not read, saying what was expected", () => {
    const refuses = (fn: () => unknown, message: RegExp) =>
      assert.throws(fn, { status: status.INVALID_ARGUMENT, message });
    refuses(() => buildInferRequest("", [input]), /model: expected a model name, got ""/);
    refuses(() => buildInferRequest("m", []), /model "m": expected at least one input, got none/);
    refuses(
      () => buildInferRequest("m", [input], { priority: -1 }),
      /priority: expected a non-negative integer, got -1/,
    );
    refuses(
      () => buildInferRequest("m", [input], { timeoutMicros: 1.5 }),
      /timeoutMicros: expected a non-negative integer/,
    );
    refuses(
      () => buildInferRequest("m", [input], { priority: 1, parameters: { priority: 2 } }),
      /priority: sets the request parameter "priority", which parameters\.priority sets too/,
    );
    refuses(
      () => buildInferRequest("m", [input], { parameters: { x: Number.POSITIVE_INFINITY } }),
      /parameters\.x: expected a finite number, got Infinity/,
    );
    refuses(
      () => buildInferRequest("m", [input], { parameters: { x: 2n ** 64n } }),
      /parameters\.x: expected a bigint within int64 or uint64/,
    );
    refuses(
      () => buildInferRequest("m", [input], { outputs: ["y", "y"] }),
      /outputs: "y" is requested twice/,
    );
  });
});

describe("modelVersion", () => {
  test("numbers become their decimal text, labels pass through, omitted is the server's choice", () => {
    assert.equal(modelVersion(undefined), "");
    assert.equal(modelVersion(12), "12");
    assert.equal(modelVersion("stable"), "stable");
    assert.throws(
      () => modelVersion(-1),
      /version: expected a non-negative integer or a label such as "stable", got -1/,
    );
    assert.throws(() => modelVersion(1.5), /got 1\.5/);
  });
});
