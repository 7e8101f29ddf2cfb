/**
 * The client against a real grpc-js server on 127.0.0.1, port 0, with tiny handlers: checks the
 * bytes that arrive and the behaviour a caller relies on (decoding, retries, deadlines, aborts).
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import {
  InferenceError,
  GRPCInferenceService,
  ModelInferResponseSchema,
  decodeBytesElements,
  grpcServiceDefinition,
  health,
  type GrpcServiceImplementation,
  type ModelInferRequest,
  type ModelInferResponse,
} from "@sluice/proto";
import { InferenceClient } from "./inference-client.js";
import { type InMemoryTracing, installInMemoryTracing } from "@sluice/testing";

type Methods<S> = S extends GenService<infer M> ? M : never;
type InferenceImpl = Partial<GrpcServiceImplementation<Methods<typeof GRPCInferenceService>>>;

interface Received {
  request: ModelInferRequest;
  metadata: Metadata;
}

/** Everything the test server saw, reset before each test. */
const seen = {
  infers: [] as Received[],
  repository: [] as { method: string; metadata: Metadata; request: unknown }[],
  attempts: new Map<string, number>(),
  cancelled: 0,
};

function attempt(model: string): number {
  const count = (seen.attempts.get(model) ?? 0) + 1;
  seen.attempts.set(model, count);
  return count;
}

function fail(callback: sendUnaryData<never>, code: status, details: string): void {
  callback({ code, details, metadata: new Metadata() }, null);
}

function modelInfer(
  call: ServerUnaryCall<ModelInferRequest, ModelInferResponse>,
  callback: sendUnaryData<ModelInferResponse>,
): void {
  const request = call.request;
  seen.infers.push({ request, metadata: call.metadata });
  const model = request.modelName;
  const count = attempt(model);
  switch (model) {
    case "echo":
      // Outputs are the inputs, returned as raw contents.
      callback(
        null,
        create(ModelInferResponseSchema, {
          modelName: model,
          modelVersion: request.modelVersion || "1",
          id: request.id,
          outputs: request.inputs.map(({ name, datatype, shape }) => ({
            name: `${name}_out`,
            datatype,
            shape,
          })),
          rawOutputContents: request.rawInputContents,
        }),
      );
      return;
    case "typed":
      callback(
        null,
        create(ModelInferResponseSchema, {
          modelName: model,
          modelVersion: "7",
          outputs: [
            {
              name: "scores",
              datatype: "FP32",
              shape: [1n, 2n],
              contents: { fp32Contents: [0.25, 0.75] },
            },
            {
              name: "ids",
              datatype: "INT64",
              shape: [2n],
              contents: { int64Contents: [2n ** 40n, -1n] },
            },
          ],
        }),
      );
      return;
    case "flaky":
      if (count <= 2) return fail(callback, status.UNAVAILABLE, `warming up (attempt ${count})`);
      return callback(
        null,
        create(ModelInferResponseSchema, { modelName: model, modelVersion: "1" }),
      );
    case "full":
      return fail(callback, status.RESOURCE_EXHAUSTED, "queue full");
    case "bad":
      return fail(callback, status.INVALID_ARGUMENT, 'input "x": expected FP32, got INT8');
    case "slow":
    case "hang": {
      const timer = setTimeout(
        () => callback(null, create(ModelInferResponseSchema, { modelName: model })),
        model === "slow" ? 3_000 : 30_000,
      );
      call.on("cancelled", () => {
        seen.cancelled++;
        clearTimeout(timer);
      });
      return;
    }
    default:
      return fail(callback, status.NOT_FOUND, `model "${model}" is not in the repository`);
  }
}

const inferenceImpl: InferenceImpl = {
  modelInfer,
  serverLive: (_call, callback) =>
    callback(null, { $typeName: "inference.ServerLiveResponse", live: true }),
  serverReady: (_call, callback) =>
    callback(null, { $typeName: "inference.ServerReadyResponse", ready: false }),
  serverMetadata: (_call, callback) =>
    callback(null, {
      $typeName: "inference.ServerMetadataResponse",
      name: "sluice",
      version: "0.1.0",
      extensions: ["model_repository"],
    }),
  modelReady: (call, callback) =>
    callback(null, {
      $typeName: "inference.ModelReadyResponse",
      ready: call.request.name === "echo" && call.request.version === "stable",
    }),
  modelMetadata: (call, callback) =>
    callback(null, {
      $typeName: "inference.ModelMetadataResponse",
      name: call.request.name,
      versions: ["1", "2"],
      platform: "onnxruntime_onnx",
      inputs: [
        {
          $typeName: "inference.ModelMetadataResponse.TensorMetadata",
          name: "x",
          datatype: "FP32",
          shape: [-1n, 4n],
        },
      ],
      outputs: [],
    }),
  repositoryIndex: (call, callback) => {
    seen.repository.push({ method: "index", metadata: call.metadata, request: call.request });
    callback(null, {
      $typeName: "inference.RepositoryIndexResponse",
      models: [
        {
          $typeName: "inference.RepositoryIndexResponse.ModelIndex",
          name: "echo",
          version: "1",
          state: "READY",
          reason: "",
        },
      ],
    });
  },
  repositoryModelLoad: (call, callback) => {
    seen.repository.push({ method: "load", metadata: call.metadata, request: call.request });
    callback(null, { $typeName: "inference.RepositoryModelLoadResponse" });
  },
  repositoryModelUnload: (call, callback) => {
    seen.repository.push({ method: "unload", metadata: call.metadata, request: call.request });
    callback(null, { $typeName: "inference.RepositoryModelUnloadResponse" });
  },
};

const healthImpl: Partial<GrpcServiceImplementation<Methods<typeof health.Health>>> = {
  check: (call, callback) => {
    if (call.request.service === "") {
      callback(
        null,
        create(health.HealthCheckResponseSchema, {
          status: health.HealthCheckResponse_ServingStatus.SERVING,
        }),
      );
    } else {
      fail(callback, status.NOT_FOUND, "unknown service");
    }
  },
};

let server: Server;
let address: string;
const clients: InferenceClient[] = [];

function client(
  options: Partial<ConstructorParameters<typeof InferenceClient>[0]> = {},
): InferenceClient {
  const created = new InferenceClient({
    address,
    retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 20 },
    ...options,
  });
  clients.push(created);
  return created;
}

before(async () => {
  server = new Server();
  server.addService(grpcServiceDefinition(GRPCInferenceService), inferenceImpl);
  server.addService(grpcServiceDefinition(health.Health), healthImpl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  address = `127.0.0.1:${port}`;
});

after(async () => {
  for (const created of clients) created.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

beforeEach(() => {
  seen.infers.length = 0;
  seen.repository.length = 0;
  seen.attempts.clear();
  seen.cancelled = 0;
});

describe("infer", () => {
  test("sends raw input contents, shapes, parameters and metadata as given", async () => {
    const metadata = new Metadata();
    metadata.set("x-tenant", "acme");
    const features = new Float32Array([0.5, 1.5, 2.5, 3.5]);
    await client({ token: "admin-secret" }).infer(
      "echo",
      [
        { name: "features", datatype: "FP32", shape: [2, 2], data: features },
        { name: "text", datatype: "BYTES", shape: [2], data: ["héllo", "world"] },
      ],
      {
        version: 2,
        id: "req-9",
        priority: 3,
        timeoutMicros: 250_000,
        parameters: { tag: "a" },
        outputs: ["features_out"],
        metadata,
      },
    );
    assert.equal(seen.infers.length, 1);
    const { request, metadata: arrived } = seen.infers[0]!;
    assert.equal(request.modelName, "echo");
    assert.equal(request.modelVersion, "2");
    assert.equal(request.id, "req-9");
    assert.deepEqual(
      request.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      [
        { name: "features", datatype: "FP32", shape: [2n, 2n] },
        { name: "text", datatype: "BYTES", shape: [2n] },
      ],
    );
    assert.ok(
      request.inputs.every((input) => input.contents === undefined),
      "raw contents only",
    );
    assert.deepEqual(Buffer.from(request.rawInputContents[0]!), Buffer.from(features.buffer));
    assert.deepEqual(
      decodeBytesElements(request.rawInputContents[1]!, 2).map((element) =>
        Buffer.from(element).toString(),
      ),
      ["héllo", "world"],
    );
    assert.deepEqual(request.parameters.priority?.parameterChoice, {
      case: "int64Param",
      value: 3n,
    });
    assert.deepEqual(request.parameters.timeout?.parameterChoice, {
      case: "int64Param",
      value: 250_000n,
    });
    assert.deepEqual(request.parameters.tag?.parameterChoice, { case: "stringParam", value: "a" });
    assert.deepEqual(
      request.outputs.map((output) => output.name),
      ["features_out"],
    );
    assert.deepEqual(arrived.get("x-tenant"), ["acme"]);
    assert.deepEqual(
      arrived.get("authorization"),
      [],
      "the admin token goes on repository calls only",
    );
    assert.deepEqual(arrived.get("traceparent"), [], "no SDK, no trace context");
    assert.deepEqual(metadata.get("traceparent"), [], "the caller's metadata is not modified");
  });

  test("decodes raw outputs as typed views and BYTES as elements", async () => {
    const result = await client().infer(
      "echo",
      [
        {
          name: "ids",
          datatype: "INT64",
          shape: [3],
          data: new BigInt64Array([1n, -2n, 2n ** 62n]),
        },
        { name: "text", datatype: "BYTES", shape: [1], data: ["ok"] },
      ],
      { version: "stable", id: "r" },
    );
    assert.equal(result.modelName, "echo");
    assert.equal(result.modelVersion, "stable");
    assert.equal(result.id, "r");
    const ids = result.output("ids_out");
    assert.deepEqual(ids.shape, [3]);
    assert.deepEqual(ids.data, new BigInt64Array([1n, -2n, 2n ** 62n]));
    assert.equal(
      Buffer.from((result.output("text_out").data as Uint8Array[])[0]!).toString(),
      "ok",
    );
    assert.throws(
      () => result.output("nope"),
      /output "nope" is not in the response of model "echo"; outputs present: "ids_out", "text_out"/,
    );
  });

  test("decodes typed contents", async () => {
    const result = await client().infer("typed", [
      { name: "x", datatype: "UINT8", shape: [1], data: new Uint8Array([1]) },
    ]);
    assert.equal(result.modelVersion, "7");
    assert.deepEqual(result.output("scores"), {
      name: "scores",
      datatype: "FP32",
      shape: [1, 2],
      data: new Float32Array([0.25, 0.75]),
    });
    assert.deepEqual(result.output("ids").data, new BigInt64Array([2n ** 40n, -1n]));
  });

  test("invalid inputs are refused before anything is sent", async () => {
    await assert.rejects(
      client().infer("echo", [
        { name: "x", datatype: "FP32", shape: [2, 3], data: new Float32Array(5) },
      ]),
      {
        status: status.INVALID_ARGUMENT,
        message:
          /input "x": expected 6 elements of FP32 \(24 bytes\) for shape \[2, 3\], got 5 elements \(20 bytes\)/,
      },
    );
    assert.equal(seen.infers.length, 0);
  });

  test("retries UNAVAILABLE, then succeeds", async () => {
    const result = await client().infer("flaky", [
      { name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) },
    ]);
    assert.equal(result.modelName, "flaky");
    assert.equal(seen.attempts.get("flaky"), 3);
  });

  test("gives up on RESOURCE_EXHAUSTED after maxAttempts, with the server's message", async () => {
    await assert.rejects(
      client().infer("full", [
        { name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) },
      ]),
      (error: unknown) => {
        assert.ok(error instanceof InferenceError);
        assert.equal(error.status, status.RESOURCE_EXHAUSTED);
        assert.equal(error.details, "queue full");
        assert.equal(error.message, "[RESOURCE_EXHAUSTED] queue full");
        assert.equal(error.retryable, true);
        return true;
      },
    );
    assert.equal(seen.attempts.get("full"), 3);
  });

  test("does not retry INVALID_ARGUMENT or NOT_FOUND", async () => {
    const inputs = [
      { name: "x", datatype: "INT32" as const, shape: [1], data: new Int32Array([1]) },
    ];
    await assert.rejects(client().infer("bad", inputs), {
      status: status.INVALID_ARGUMENT,
      details: 'input "x": expected FP32, got INT8',
      retryable: false,
    });
    assert.equal(seen.attempts.get("bad"), 1);
    await assert.rejects(client().infer("missing", inputs), { status: status.NOT_FOUND });
    assert.equal(seen.attempts.get("missing"), 1);
  });

  test("honours the deadline: DEADLINE_EXCEEDED on time, not retried", async () => {
    const started = performance.now();
    await assert.rejects(
      client({ deadlineMs: 5_000 }).infer(
        "slow",
        [{ name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) }],
        {
          deadlineMs: 200,
        },
      ),
      { status: status.DEADLINE_EXCEEDED },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1_500, `took ${elapsed} ms for a 200 ms deadline`);
    assert.equal(seen.attempts.get("slow"), 1);
  });

  test("an abort cancels the call on the wire and rejects with CANCELLED", async () => {
    const controller = new AbortController();
    const pending = client().infer(
      "hang",
      [{ name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) }],
      {
        signal: controller.signal,
      },
    );
    while (seen.infers.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error("user pressed ^C"));
    await assert.rejects(pending, {
      status: status.CANCELLED,
      message: /ModelInfer aborted: user pressed \^C/,
    });
    while (seen.cancelled === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await assert.rejects(
      client().infer(
        "echo",
        [{ name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) }],
        {
          signal: controller.signal,
        },
      ),
      { status: status.CANCELLED },
      "an already aborted signal sends nothing",
    );
    assert.equal(seen.infers.length, 1);
  });

  test("an unreachable server is UNAVAILABLE after the retries", async () => {
    const probe = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    probe.forceShutdown();
    const unreachable = client({ address: `127.0.0.1:${port}`, deadlineMs: 5_000 });
    await assert.rejects(unreachable.serverLive(), { status: status.UNAVAILABLE });
  });

  test("a closed client refuses calls with FAILED_PRECONDITION", async () => {
    const closed = client();
    closed.close();
    await assert.rejects(closed.serverLive(), {
      status: status.FAILED_PRECONDITION,
      message: /the client is closed/,
    });
  });
});

describe("server, model and repository calls", () => {
  test("liveness, readiness, metadata", async () => {
    const sluice = client();
    assert.equal(await sluice.serverLive(), true);
    assert.equal(await sluice.serverReady(), false);
    assert.deepEqual(await sluice.serverMetadata(), {
      name: "sluice",
      version: "0.1.0",
      extensions: ["model_repository"],
    });
    assert.equal(await sluice.modelReady("echo", "stable"), true);
    assert.equal(await sluice.modelReady("echo", 1), false);
    assert.deepEqual(await sluice.modelMetadata("echo"), {
      name: "echo",
      versions: ["1", "2"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "x", datatype: "FP32", shape: [-1, 4] }],
      outputs: [],
    });
  });

  test("an RPC the server does not implement is UNIMPLEMENTED", async () => {
    await assert.rejects(client().modelConfig("echo"), { status: status.UNIMPLEMENTED });
  });

  test("version labels: none from a server without ModelConfig (KServe without Triton's extension)", async () => {
    assert.deepEqual(await client().versionLabels("echo"), {});
  });

  test("repository calls carry the bearer token", async () => {
    const sluice = client({ token: "admin-secret" });
    assert.deepEqual(await sluice.repositoryIndex({ readyOnly: true }), [
      { name: "echo", version: "1", state: "READY", reason: "" },
    ]);
    await sluice.loadModel("echo");
    await sluice.unloadModel("echo", { unloadDependents: true });
    assert.deepEqual(
      seen.repository.map(({ method, metadata }) => [method, metadata.get("authorization")]),
      [
        ["index", ["Bearer admin-secret"]],
        ["load", ["Bearer admin-secret"]],
        ["unload", ["Bearer admin-secret"]],
      ],
    );
    const [index, load, unload] = seen.repository.map(({ request }) => request) as [
      { ready: boolean },
      { modelName: string },
      { modelName: string; parameters: Record<string, { parameterChoice: unknown }> },
    ];
    assert.equal(index.ready, true);
    assert.equal(load.modelName, "echo");
    assert.deepEqual(unload.parameters.unload_dependents?.parameterChoice, {
      case: "boolParam",
      value: true,
    });
  });

  test("health: SERVING for the server, SERVICE_UNKNOWN for a service it does not know", async () => {
    const sluice = client();
    assert.equal(await sluice.health(), "SERVING");
    assert.equal(await sluice.health("no.such.Service"), "SERVICE_UNKNOWN");
  });
});

describe("with an OpenTelemetry SDK registered", () => {
  let otel: InMemoryTracing;
  before(() => {
    otel = installInMemoryTracing();
  });
  after(() => otel.uninstall());

  test("injects traceparent of a CLIENT span that is a child of the active context", async () => {
    const parent = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
    };
    await otel.withParent(parent, () =>
      client().infer(
        "echo",
        [{ name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) }],
        { version: 4 },
      ),
    );
    const span = otel.spans().at(-1);
    assert.ok(span);
    assert.equal(span.name, "inference.GRPCInferenceService/ModelInfer");
    assert.equal(span.parentSpanContext?.spanId, parent.spanId);
    assert.equal(span.spanContext().traceId, parent.traceId);
    const [traceparent] = seen.infers[0]!.metadata.get("traceparent");
    assert.equal(traceparent, `00-${parent.traceId}-${span.spanContext().spanId}-01`);
    assert.equal(span.attributes["sluice.model.version"], "4");
    assert.equal(span.attributes["rpc.grpc.status_code"], status.OK);
    assert.ok(span.ended);
  });

  test("a retried call is one span with a retry event per retry", async () => {
    await client().infer("flaky", [
      { name: "x", datatype: "INT32", shape: [1], data: new Int32Array([1]) },
    ]);
    const span = otel.spans().at(-1);
    assert.deepEqual(
      span?.events.map((event) => [event.name, event.attributes?.["rpc.grpc.status_code"]]),
      [
        ["retry", status.UNAVAILABLE],
        ["retry", status.UNAVAILABLE],
      ],
    );
    const parents = new Set(
      seen.infers.map(({ metadata }) => String(metadata.get("traceparent")[0]).split("-")[2]),
    );
    assert.deepEqual(
      [...parents],
      [span?.spanContext().spanId],
      "every attempt carries the same span",
    );
  });
});
