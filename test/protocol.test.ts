/**
 * The Open Inference Protocol over real gRPC on loopback, against real ONNX Runtime: metadata,
 * round trips of every datatype the fixture models use (typed and raw contents), requested outputs,
 * models without a batch dimension, the Triton extensions, and every bad-input case — each followed
 * by a good request that still succeeds.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status, Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  DataType,
  InferParameterSchema,
  ModelInferRequestSchema,
  type ModelConfigResponse,
  type ModelMetadataResponse,
  type ModelStatisticsResponse,
  type ModelStreamInferResponse,
  type RepositoryIndexResponse,
  type ServerMetadataResponse,
} from "@sluice/proto";
import type { Sidecar } from "@sluice/server";
import type { ProtocolClient } from "@sluice/testing";
import {
  FIXTURE_MODELS,
  f32,
  makeRepository,
  raw,
  serveRepository,
  statusOf,
  type ServedRepository,
  type TestRepository,
} from "@sluice/testing";

const IDENTITY_MODELS = ["fp32", "int64", "int32", "fp64", "uint8", "bool", "fp16", "string"];

let repository: TestRepository;
let served: ServedRepository;
let sidecar: Sidecar;
let client: ProtocolClient;

before(async () => {
  const models: Record<string, string> = {
    "add-sub": join(FIXTURE_MODELS, "add-sub"),
    "fixed-shape": join(FIXTURE_MODELS, "fixed-shape"),
  };
  for (const kind of IDENTITY_MODELS)
    models[`identity-${kind}`] = join(FIXTURE_MODELS, `identity-${kind}`);
  repository = await makeRepository({
    ...models,
    "identity-unbatched": join(FIXTURE_MODELS, "identity-fp32"),
  });
  // The same model served without batching: its dynamic first dimension is then unbounded by max_batch_size.
  await writeFile(
    join(repository.dir, "identity-unbatched", "config.yaml"),
    "max_batch_size: 0\nlabels: { stable: 1 }\n",
  );
  served = await serveRepository(repository);
  ({ sidecar, client } = served);
});

after(async () => {
  await served.close();
});

const fp32Request = (rows: number) => ({
  modelName: "identity-fp32",
  inputs: [{ name: "INPUT0", datatype: "FP32", shape: [BigInt(rows), 4n] }],
  rawInputContents: [raw(Float32Array.from({ length: rows * 4 }, (_, i) => i + 0.5))],
});

/** One row of identity-fp32 sent as typed `contents`. */
const fp32Typed = (contents: { fp32Contents?: number[]; intContents?: number[] }) => ({
  modelName: "identity-fp32",
  inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 4n], contents }],
});

/** A good request after a bad one: the server is still up and still right. */
async function assertStillServes(): Promise<void> {
  const response = await client.infer(fp32Request(2));
  assert.deepEqual(
    [...f32(response.rawOutputContents[0])],
    [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5],
  );
}

describe("health and metadata", () => {
  it("is live and ready, and names its extensions", async () => {
    assert.equal((await client.call<{ live: boolean }>("serverLive", {})).live, true);
    assert.equal((await client.call<{ ready: boolean }>("serverReady", {})).ready, true);
    const metadata = await client.call<ServerMetadataResponse>("serverMetadata", {});
    assert.equal(metadata.name, "sluice");
    assert.ok(metadata.extensions.includes("model_repository"));
    assert.ok(metadata.extensions.includes("statistics"));
  });

  it("reports model metadata from the ONNX model, with -1 for the batch dimension", async () => {
    const metadata = await client.call<ModelMetadataResponse>("modelMetadata", {
      name: "add-sub",
      version: "",
    });
    assert.equal(metadata.platform, "onnxruntime_onnx");
    assert.deepEqual(metadata.versions, ["1"]);
    assert.deepEqual(
      metadata.inputs.map((t) => [t.name, t.datatype, t.shape.map(Number)]),
      [
        ["INPUT0", "FP32", [-1, 16]],
        ["INPUT1", "FP32", [-1, 16]],
      ],
    );
    assert.deepEqual(metadata.outputs.map((t) => t.name).sort(), ["OUTPUT0", "OUTPUT1"]);
    const ready = await client.call<{ ready: boolean }>("modelReady", {
      name: "add-sub",
      version: "1",
    });
    assert.equal(ready.ready, true);
    const notReady = await client.call<{ ready: boolean }>("modelReady", {
      name: "add-sub",
      version: "2",
    });
    assert.equal(notReady.ready, false);
  });

  it("serves Triton's ModelConfig with dims without the batch dimension", async () => {
    const { config } = await client.call<ModelConfigResponse>("modelConfig", {
      name: "identity-fp32",
      version: "",
    });
    assert.ok(config);
    assert.equal(config.name, "identity-fp32");
    assert.equal(config.platform, "onnxruntime_onnx");
    assert.ok(config.maxBatchSize > 0);
    assert.equal(config.input[0]?.dataType, DataType.TYPE_FP32);
    assert.deepEqual(config.input[0]?.dims.map(Number), [4]);
    assert.equal(config.schedulingChoice.case, "dynamicBatching");
    const fixed = await client.call<ModelConfigResponse>("modelConfig", {
      name: "fixed-shape",
      version: "",
    });
    assert.equal(fixed.config?.maxBatchSize, 0);
    assert.deepEqual(fixed.config?.input[0]?.dims.map(Number), [3, 4]);
  });

  it("carries the version labels in ModelConfig's parameters, whichever version was asked", async () => {
    for (const version of ["", "1", "stable"]) {
      const { config } = await client.call<ModelConfigResponse>("modelConfig", {
        name: "identity-unbatched",
        version,
      });
      assert.deepEqual(
        Object.entries(config?.parameters ?? {}).map(([key, value]) => [key, value.stringValue]),
        [["sluice.version_label.stable", "1"]],
      );
    }
    const unlabelled = await client.call<ModelConfigResponse>("modelConfig", {
      name: "identity-fp32",
      version: "",
    });
    assert.deepEqual(unlabelled.config?.parameters, {});
  });

  it("lists the repository with states", async () => {
    const index = await client.call<RepositoryIndexResponse>("repositoryIndex", {
      repositoryName: "",
      ready: true,
    });
    const fp32 = index.models.find((m) => m.name === "identity-fp32");
    assert.deepEqual([fp32?.version, fp32?.state], ["1", "READY"]);
  });
});

/** Values per datatype for identity round trips, as raw bytes and as the typed contents field. */
const SAMPLES: Record<
  string,
  { datatype: string; width: number; raw: Uint8Array; contents?: Record<string, unknown[]> }
> = {
  fp32: {
    datatype: "FP32",
    width: 4,
    raw: raw(new Float32Array([1.5, -2, 3072, 0, 0.25, 6, 7, 8])),
    contents: { fp32Contents: [1.5, -2, 3072, 0, 0.25, 6, 7, 8] },
  },
  fp64: {
    datatype: "FP64",
    width: 4,
    raw: raw(new Float64Array([1e300, -2, 3.125, 0, 5, 6, 7, 8])),
    contents: { fp64Contents: [1e300, -2, 3.125, 0, 5, 6, 7, 8] },
  },
  int32: {
    datatype: "INT32",
    width: 4,
    raw: raw(new Int32Array([-2147483648, 2147483647, 0, 1, 2, 3, 4, 5])),
    contents: { intContents: [-2147483648, 2147483647, 0, 1, 2, 3, 4, 5] },
  },
  int64: {
    datatype: "INT64",
    width: 4,
    raw: raw(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n, 4n, 5n])),
    contents: { int64Contents: [-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n, 4n, 5n] },
  },
  uint8: {
    datatype: "UINT8",
    width: 4,
    raw: raw(new Uint8Array([0, 255, 1, 2, 3, 4, 5, 6])),
    contents: { uintContents: [0, 255, 1, 2, 3, 4, 5, 6] },
  },
  bool: {
    datatype: "BOOL",
    width: 4,
    raw: raw(new Uint8Array([1, 0, 0, 1, 1, 1, 0, 0])),
    contents: { boolContents: [true, false, false, true, true, true, false, false] },
  },
  fp16: {
    datatype: "FP16",
    width: 4,
    raw: raw(new Uint16Array([0x3c00, 0xc000, 0x3800, 0, 0x7bff, 1, 2, 3])),
  },
  string: {
    datatype: "BYTES",
    width: 2,
    raw: (() => {
      const words = ["a", "", "héllo", "sluice"].map((s) => Buffer.from(s, "utf8"));
      return Buffer.concat(
        words.flatMap((w) => {
          const n = Buffer.alloc(4);
          n.writeUInt32LE(w.length);
          return [n, w];
        }),
      );
    })(),
    contents: { bytesContents: ["a", "", "héllo", "sluice"].map((s) => Buffer.from(s, "utf8")) },
  },
};

describe("round trips of every datatype", () => {
  for (const kind of IDENTITY_MODELS) {
    const sample = SAMPLES[kind]!;
    const rows = kind === "string" ? 2 : 2;
    /** The identity model of `kind` and its input's head: name, datatype and shape. */
    const model = `identity-${kind}`;
    const input = {
      name: "INPUT0",
      datatype: sample.datatype,
      shape: [BigInt(rows), BigInt(sample.width)],
    };
    it(`${sample.datatype}: raw contents come back byte for byte`, async () => {
      const response = await client.infer({
        modelName: model,
        inputs: [input],
        rawInputContents: [sample.raw],
      });
      assert.equal(response.modelVersion, "1");
      assert.equal(response.outputs[0]?.datatype, sample.datatype);
      assert.deepEqual(response.outputs[0]?.shape.map(Number), [rows, sample.width]);
      assert.deepEqual(Buffer.from(response.rawOutputContents[0]!), Buffer.from(sample.raw));
    });
    if (sample.contents !== undefined) {
      it(`${sample.datatype}: typed contents come back as typed contents`, async () => {
        const response = await client.infer({
          modelName: model,
          inputs: [{ ...input, contents: sample.contents }],
        });
        assert.equal(response.rawOutputContents.length, 0);
        const contents = response.outputs[0]?.contents as unknown as Record<string, unknown[]>;
        const [field, expected] = Object.entries(sample.contents!)[0]!;
        assert.deepEqual(
          contents[field]!.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v)),
          expected.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v)),
        );
      });
    }
  }

  it("returns only the requested outputs, in the requested order", async () => {
    const a = Float32Array.from({ length: 16 }, (_, i) => i);
    const b = Float32Array.from({ length: 16 }, () => 1);
    const response = await client.infer({
      modelName: "add-sub",
      inputs: [
        { name: "INPUT1", datatype: "FP32", shape: [1n, 16n] },
        { name: "INPUT0", datatype: "FP32", shape: [1n, 16n] },
      ],
      outputs: [{ name: "OUTPUT1" }],
      rawInputContents: [raw(b), raw(a)],
    });
    assert.deepEqual(
      response.outputs.map((o) => o.name),
      ["OUTPUT1"],
    );
    assert.deepEqual(
      [...f32(response.rawOutputContents[0])],
      [...a].map((v) => v - 1),
    );
  });

  it("runs a model without a batch dimension with its full shape", async () => {
    const input = Float32Array.from({ length: 12 }, (_, i) => i);
    const response = await client.infer({
      modelName: "fixed-shape",
      inputs: [{ name: "INPUT0", datatype: "FP32", shape: [3n, 4n] }],
      rawInputContents: [raw(input)],
    });
    assert.deepEqual(response.outputs[0]?.shape.map(Number), [3, 4]);
    assert.deepEqual(
      [...f32(response.rawOutputContents[0])],
      [...input].map((v) => v * 2),
    );
  });

  it("echoes the request id and honours binary_data_output", async () => {
    const response = await client.infer({
      ...fp32Request(1),
      id: "req-42",
      parameters: {
        binary_data_output: create(InferParameterSchema, {
          parameterChoice: { case: "boolParam", value: false },
        }),
      },
    });
    assert.equal(response.id, "req-42");
    assert.equal(response.rawOutputContents.length, 0);
    assert.deepEqual(response.outputs[0]?.contents?.fp32Contents, [0.5, 1.5, 2.5, 3.5]);
  });

  it("streams: ModelStreamInfer answers each request in order", async () => {
    const stream = (
      client.client as unknown as {
        modelStreamInfer(): ClientDuplexStream<object, ModelStreamInferResponse>;
      }
    ).modelStreamInfer();
    const replies: { errorMessage: string; id: string | undefined }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (reply: ModelStreamInferResponse) =>
        replies.push({ errorMessage: reply.errorMessage, id: reply.inferResponse?.id }),
      );
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    stream.write(create(ModelInferRequestSchema, { ...fp32Request(1), id: "s1" }));
    stream.write(create(ModelInferRequestSchema, { modelName: "nope", id: "s2" }));
    stream.write(create(ModelInferRequestSchema, { ...fp32Request(2), id: "s3" }));
    stream.end();
    await done;
    assert.deepEqual(
      replies.map((r) => r.id ?? r.errorMessage.slice(0, 13)),
      ["s1", 'model "nope" ', "s3"],
    );
  });
});

describe("bad input: a clear INVALID_ARGUMENT or NOT_FOUND, then the server still serves", () => {
  const cases: { name: string; request: object; code: status; message: RegExp }[] = [
    {
      name: "unknown model",
      request: { ...fp32Request(1), modelName: "no-such-model" },
      code: status.NOT_FOUND,
      message: /model "no-such-model" is not ready/,
    },
    {
      name: "unknown version",
      request: { ...fp32Request(1), modelVersion: "7" },
      code: status.NOT_FOUND,
      message: /no ready version 7; ready versions: 1/,
    },
    {
      name: "unknown label",
      request: { ...fp32Request(1), modelVersion: "canary" },
      code: status.NOT_FOUND,
      message: /expected a version number or a label/,
    },
    {
      name: "wrong datatype",
      request: {
        ...fp32Request(1),
        inputs: [{ name: "INPUT0", datatype: "FP64", shape: [1n, 4n] }],
      },
      code: status.INVALID_ARGUMENT,
      message: /input "INPUT0": expected datatype FP32, got "FP64"/,
    },
    {
      name: "unknown datatype",
      request: {
        ...fp32Request(1),
        inputs: [{ name: "INPUT0", datatype: "FLOAT", shape: [1n, 4n] }],
      },
      code: status.INVALID_ARGUMENT,
      message: /expected datatype FP32, got "FLOAT"/,
    },
    {
      name: "wrong shape",
      request: {
        ...fp32Request(1),
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 5n] }],
      },
      code: status.INVALID_ARGUMENT,
      message: /expected shape \[-1, 4\], got \[1, 5\]/,
    },
    {
      name: "wrong rank",
      request: { ...fp32Request(1), inputs: [{ name: "INPUT0", datatype: "FP32", shape: [4n] }] },
      code: status.INVALID_ARGUMENT,
      message: /expected shape \[-1, 4\], got \[4\]/,
    },
    {
      name: "negative dimension",
      request: {
        ...fp32Request(1),
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [-1n, 4n] }],
      },
      code: status.INVALID_ARGUMENT,
      message: /non-negative/,
    },
    {
      name: "raw byte length",
      request: { ...fp32Request(1), rawInputContents: [new Uint8Array(15)] },
      code: status.INVALID_ARGUMENT,
      message: /expected 4 elements of FP32 \(16 bytes\), got 15 bytes/,
    },
    {
      name: "raw contents count",
      request: {
        ...fp32Request(1),
        rawInputContents: [raw(new Float32Array(4)), raw(new Float32Array(4))],
      },
      code: status.INVALID_ARGUMENT,
      message: /expected one entry per input \(1\), got 2/,
    },
    {
      name: "typed contents count",
      request: fp32Typed({ fp32Contents: [1, 2, 3] }),
      code: status.INVALID_ARGUMENT,
      message: /expected 4 FP32 elements in contents.fp32_contents, got 3/,
    },
    {
      name: "typed contents in the wrong field",
      request: fp32Typed({ intContents: [1, 2, 3, 4] }),
      code: status.INVALID_ARGUMENT,
      message: /expected 4 FP32 elements in contents.fp32_contents, got 0/,
    },
    {
      name: "FP16 as typed contents",
      request: {
        modelName: "identity-fp16",
        inputs: [{ name: "INPUT0", datatype: "FP16", shape: [1n, 4n] }],
      },
      code: status.INVALID_ARGUMENT,
      message: /FP16 has no typed contents field/,
    },
    {
      name: "missing input",
      request: {
        modelName: "add-sub",
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 16n] }],
        rawInputContents: [raw(new Float32Array(16))],
      },
      code: status.INVALID_ARGUMENT,
      message: /missing input "INPUT1"/,
    },
    {
      name: "unknown input",
      request: { ...fp32Request(1), inputs: [{ name: "X", datatype: "FP32", shape: [1n, 4n] }] },
      code: status.INVALID_ARGUMENT,
      message: /unexpected input "X": model "identity-fp32" takes "INPUT0"/,
    },
    {
      name: "duplicate input",
      request: {
        modelName: "identity-fp32",
        inputs: [
          { name: "INPUT0", datatype: "FP32", shape: [1n, 4n] },
          { name: "INPUT0", datatype: "FP32", shape: [1n, 4n] },
        ],
        rawInputContents: [raw(new Float32Array(4)), raw(new Float32Array(4))],
      },
      code: status.INVALID_ARGUMENT,
      message: /given more than once/,
    },
    {
      name: "batch larger than max_batch_size",
      request: {
        modelName: "identity-fp32",
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [100000n, 4n] }],
        rawInputContents: [new Uint8Array(100000 * 16)],
      },
      code: status.INVALID_ARGUMENT,
      message: /expected a batch size from 1 to \d+ \(max_batch_size\), got 100000/,
    },
    {
      name: "zero rows",
      request: {
        ...fp32Request(1),
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [0n, 4n] }],
        rawInputContents: [new Uint8Array(0)],
      },
      code: status.INVALID_ARGUMENT,
      message: /got 0/,
    },
    {
      name: "raw bytes fewer than the elements",
      request: {
        modelName: "fixed-shape",
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [3n, 4n] }],
        rawInputContents: [new Uint8Array(12)],
      },
      code: status.INVALID_ARGUMENT,
      message: /expected 12 elements of FP32 \(48 bytes\), got 12 bytes/,
    },
    {
      name: "element count over the limit",
      request: {
        modelName: "identity-unbatched",
        inputs: [{ name: "INPUT0", datatype: "FP32", shape: [2n ** 40n, 4n] }],
        rawInputContents: [new Uint8Array(8)],
      },
      code: status.INVALID_ARGUMENT,
      message: /has more than \d+ elements, the most one input may carry/,
    },
    {
      name: "huge shape",
      request: {
        modelName: "identity-string",
        inputs: [{ name: "INPUT0", datatype: "BYTES", shape: [1n, 2n ** 62n] }],
        rawInputContents: [new Uint8Array(8)],
      },
      code: status.INVALID_ARGUMENT,
      message: /has a dimension larger than 2\^53 - 1/,
    },
    {
      name: "BYTES framing",
      request: {
        modelName: "identity-string",
        inputs: [{ name: "INPUT0", datatype: "BYTES", shape: [1n, 2n] }],
        rawInputContents: [Uint8Array.from([5, 0, 0, 0, 97])],
      },
      code: status.INVALID_ARGUMENT,
      message: /length prefix says 5 bytes, only 1 remain/,
    },
    {
      name: "unknown requested output",
      request: { ...fp32Request(1), outputs: [{ name: "NOPE" }] },
      code: status.INVALID_ARGUMENT,
      message: /unknown output "NOPE"/,
    },
    {
      name: "priority on a model without levels",
      request: {
        ...fp32Request(1),
        parameters: {
          priority: create(InferParameterSchema, {
            parameterChoice: { case: "int64Param", value: 2n },
          }),
        },
      },
      code: status.INVALID_ARGUMENT,
      message: /no priority levels/,
    },
    {
      name: "timeout of the wrong type",
      request: {
        ...fp32Request(1),
        parameters: {
          timeout: create(InferParameterSchema, {
            parameterChoice: { case: "stringParam", value: "soon" },
          }),
        },
      },
      code: status.INVALID_ARGUMENT,
      message: /parameter "timeout": expected a non-negative integer/,
    },
  ];
  for (const { name, request, code, message } of cases) {
    it(name, async () => {
      const error = await statusOf(client.infer(request));
      assert.equal(error.code, code, `${error.code}: ${error.details}`);
      assert.match(error.details, message);
      await assertStillServes();
    });
  }

  it("rejects a message over the size limit with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const small = await makeRepository({ "identity-fp32": join(FIXTURE_MODELS, "identity-fp32") });
    const limited = await serveRepository(small, { maxMessageBytes: 4096 });
    const limitedClient = limited.client;
    try {
      const error = await statusOf(
        limitedClient.infer({ ...fp32Request(1), rawInputContents: [new Uint8Array(8192)] }),
      );
      assert.equal(error.code, status.RESOURCE_EXHAUSTED);
      const ok = await limitedClient.infer(fp32Request(1));
      assert.equal(ok.outputs.length, 1);
    } finally {
      await limited.close();
    }
  });
});

describe("statistics and metrics", () => {
  it("counts inferences, executions and failures per version", async () => {
    await client.infer(fp32Request(3));
    const stats = await client.call<ModelStatisticsResponse>("modelStatistics", {
      name: "identity-fp32",
      version: "1",
    });
    const s = stats.modelStats[0]!;
    assert.equal(s.name, "identity-fp32");
    assert.ok(s.inferenceCount >= 3n);
    assert.ok(s.executionCount >= 1n);
    assert.ok((s.inferenceStats?.success?.count ?? 0n) >= 1n);
    assert.ok((s.inferenceStats?.fail?.count ?? 0n) >= 1n, "bad requests above count as failures");
    assert.ok(s.batchStats.length >= 1);
    const all = await client.call<ModelStatisticsResponse>("modelStatistics", {
      name: "",
      version: "",
    });
    assert.ok(all.modelStats.length >= IDENTITY_MODELS.length);
  });

  it("exposes Prometheus metrics labelled by model and version", async () => {
    const text = await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`).then((r) =>
      r.text(),
    );
    assert.match(
      text,
      /sluice_inference_requests_total\{model="identity-fp32",version="1",outcome="success",reason=""\} \d+/,
    );
    assert.match(
      text,
      /sluice_inference_requests_total\{model="identity-fp32",version="1",outcome="failure",reason="invalid_argument"\} \d+/,
    );
    assert.match(
      text,
      /sluice_inference_requests_total\{model="_unknown",version="",outcome="failure",reason="not_found"\} \d+/,
    );
    assert.match(
      text,
      /sluice_inference_batch_size_bucket\{le="1",model="identity-fp32",version="1"\}/,
    );
    assert.match(text, /sluice_model_ready\{model="add-sub",version="1"\} 1/);
    assert.match(
      text,
      /sluice_model_loads_total\{model="add-sub",version="1",outcome="success"\} 1/,
    );
    assert.doesNotMatch(text, /no-such-model/, "made-up model names never become label values");
  });

  it("answers metadata calls with a bearer header it does not need", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", "Bearer whatever");
    const live = await client.call<{ live: boolean }>("serverLive", {}, { metadata });
    assert.equal(live.live, true);
  });
});
