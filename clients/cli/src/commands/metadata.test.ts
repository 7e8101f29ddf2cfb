import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ModelMetadataResponseSchema } from "@sluice/proto";
import { sidecarForFile, sluice, stubServerForFile } from "../test-kit.js";

const sidecar = sidecarForFile();

// A KServe V2 server without Triton's ModelConfig: metadata, but no labels.
const kserve = stubServerForFile({
  modelMetadata: (call, callback) =>
    callback(
      null,
      create(ModelMetadataResponseSchema, {
        name: call.request.name,
        versions: ["7"],
        platform: "onnxruntime_onnx",
        inputs: [{ name: "x", datatype: "INT64", shape: [3n] }],
      }),
    ),
});

describe("sluice metadata", () => {
  test("shows the inputs, outputs, versions with their labels, and an --input to start from", async () => {
    const { code, out, err } = await sluice("metadata", "fraud", "--url", sidecar());
    assert.equal(err, "");
    assert.equal(code, 0);
    assert.equal(
      out,
      [
        "model fraud, platform onnxruntime_onnx",
        "versions: 1 (stable), 2 (canary)",
        "",
        "TENSOR  NAME           DATATYPE  SHAPE",
        "input   features       FP32      [-1, 20]",
        "output  label          INT64     [-1]",
        "output  probabilities  FP32      [-1, 2]",
        "",
        "infer with: sluice infer fraud --input features:FP32:1x20:<20 values>",
        "",
      ].join("\n"),
    );
  });

  test("--json: KServe V2 model metadata and the labels; --version takes a label", async () => {
    const { code, out } = await sluice(
      "metadata",
      "fraud",
      "--version",
      "canary",
      "--json",
      "--url",
      sidecar(),
    );
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), {
      name: "fraud",
      versions: ["1", "2"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "features", datatype: "FP32", shape: [-1, 20] }],
      outputs: [
        { name: "label", datatype: "INT64", shape: [-1] },
        { name: "probabilities", datatype: "FP32", shape: [-1, 2] },
      ],
      labels: { stable: "1", canary: "2" },
    });
  });

  test("an unknown model or label: exit 1 with the server's message", async () => {
    const unknown = await sluice("metadata", "nope", "--url", sidecar());
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^error: \[NOT_FOUND\] .*"nope"/);
    const label = await sluice("metadata", "fraud", "--version", "beta", "--url", sidecar());
    assert.equal(label.code, 1);
    assert.match(label.err, /labels: "stable", "canary"/);
  });

  test("a server without ModelConfig: the metadata without labels", async () => {
    const { code, out } = await sluice("metadata", "counter", "--url", kserve());
    assert.equal(code, 0);
    assert.match(out, /^model counter, platform onnxruntime_onnx\nversions: 7\n/);
    assert.match(out, /infer with: sluice infer counter --input x:INT64:3:<3 values>\n$/);
  });
});
