/**
 * Graceful shutdown: once `close()` is called (in process) or SIGTERM arrives (the `sluice serve`
 * CLI), every request the server already holds — running, queued, or waiting for its batch to fill —
 * completes successfully; new requests get UNAVAILABLE; ServerReady and the gRPC health service say
 * not serving while the queues drain (liveness stays true); then the server goes away and the
 * process exits 0.
 *
 * Requests are known to be at the server before shutdown starts (from /metrics: queued + completed
 * + the one running), so "every request succeeds" never depends on the network being fast.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  ModelReadyRequestSchema,
  ServerLiveRequestSchema,
  ServerReadyRequestSchema,
  grpcServiceDefinition,
  health,
  type ModelInferResponse,
} from "@sluice/proto";
import { sumSamples } from "@sluice/kit";
import type { Sidecar } from "@sluice/server";
import {
  f32,
  FIXTURE_MODELS,
  fp32Request,
  HOLD_QUEUE_MICROS,
  makeRepository,
  ProtocolClient,
  readMetrics,
  REPO_ROOT,
  rowValue,
  startInfer,
  startTestSidecar,
  statusOf,
  type TestRepository,
  waitFor,
  writeModelConfig,
} from "@sluice/testing";

/**
 * Rows of each slow request, one request per batch, run one at a time. A batch takes ~30 ms of
 * compute (10 ms per 4096 rows on one thread) while its 3 MB arrive in a few (and its answer stays
 * under gRPC's default 4 MB): requests queue behind the running one whatever the runtime's speed.
 * (4096-row requests stopped queueing on Node.js 24, whose main thread turns a request around
 * ~20 ms faster than Node 20's.)
 */
const SLOW_ROWS = 12_288;
const SLOW_CONFIG = `max_batch_size: ${SLOW_ROWS}\ninstance_count: 1\nwarmup: { batch_sizes: [1] }\nonnxruntime: { intra_op_threads: 1 }\n`;
/** Requests wait for a batch of 8 that never fills: only the drain sends them to the model. */
const HELD_CONFIG = `max_batch_size: 8\ndynamic_batching: { max_queue_delay_microseconds: ${HOLD_QUEUE_MICROS} }\n`;
const SLOW_REQUESTS = 16;
const HELD_REQUESTS = 5;
/**
 * Slow batches still queued when shutdown starts: the drain then lasts several batches, long enough
 * for the probes sent with close() to be answered by the draining server rather than a closed one.
 * Requests reach the server far faster than batches of SLOW_ROWS rows run, so the queue is this deep.
 */
const MIN_QUEUED_AT_SHUTDOWN = 6;

async function makeShutdownRepository(): Promise<TestRepository> {
  const repository = await makeRepository({
    slow: join(FIXTURE_MODELS, "slow-fp32"),
    held: join(FIXTURE_MODELS, "identity-fp32"),
  });
  await writeModelConfig(repository.dir, "slow", SLOW_CONFIG);
  await writeModelConfig(repository.dir, "held", HELD_CONFIG);
  return repository;
}

interface InFlight {
  readonly slow: Promise<ModelInferResponse>[];
  readonly held: Promise<ModelInferResponse>[];
}

/**
 * Sends the slow and the held requests, and resolves once the server holds every one of them.
 * Each slow request goes on a connection of its own, so the requests arrive side by side: on one
 * connection HTTP/2 flow control hands them over one after another, about as fast as the model
 * runs them, and no queue forms.
 */
async function sendAndWaitUntilAtServer(
  client: ProtocolClient,
  target: string,
  metricsPort: number,
): Promise<InFlight> {
  const connections = Array.from(
    { length: SLOW_REQUESTS },
    () => new ProtocolClient(target, undefined, { "grpc.use_local_subchannel_pool": 1 }),
  );
  const inFlight: InFlight = {
    slow: connections.map((connection, caller) => {
      const { response } = startInfer(
        connection,
        fp32Request("slow", SLOW_ROWS, { width: 64, caller }),
      );
      return response.finally(() => connection.close());
    }),
    held: Array.from(
      { length: HELD_REQUESTS },
      (_, caller) => startInfer(client, fp32Request("held", 1, { caller })).response,
    ),
  };
  await waitFor(
    "every request to reach the server, with slow ones still queued",
    async () => {
      // One scrape, so the counts are of one moment. A request is queued, then running, then
      // counted done after its batch ends: the sum never counts one twice, and it reaches the
      // number sent only once every request is at the server.
      const samples = await readMetrics(metricsPort);
      const slow = { model: "slow", version: "1" };
      const slowPending = sumSamples(samples, "sluice_inference_pending_requests", slow);
      const slowRunning = sumSamples(samples, "sluice_inference_running_batches", slow);
      const slowDone = sumSamples(samples, "sluice_inference_requests_total", {
        model: "slow",
        outcome: "success",
      });
      return (
        sumSamples(samples, "sluice_inference_pending_requests", { model: "held" }) ===
          HELD_REQUESTS &&
        slowPending + slowRunning + slowDone === SLOW_REQUESTS &&
        slowRunning === 1 &&
        slowPending >= MIN_QUEUED_AT_SHUTDOWN
      );
    },
    { timeoutMs: 60_000 },
  );
  return inFlight;
}

async function assertAllSucceed(inFlight: InFlight): Promise<void> {
  const slow = await Promise.all(inFlight.slow);
  slow.forEach((response) =>
    assert.deepEqual(response.outputs[0]?.shape.map(Number), [SLOW_ROWS, 64]),
  );
  const held = await Promise.all(inFlight.held);
  held.forEach((response, caller) =>
    assert.deepEqual(
      [...f32(response.rawOutputContents[0])],
      [0, 1, 2, 3].map((k) => Math.fround(rowValue(caller, 0, k))),
    ),
  );
}

const HealthClient = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(health.Health),
  "Health",
);

type HealthCheck = (
  request: object,
  callback: (error: grpc.ServiceError | null, response: health.HealthCheckResponse) => void,
) => grpc.ClientUnaryCall;

/** A `grpc.health.v1.Health` client, as Kubernetes or a load balancer would probe the sidecar. */
class HealthProbe {
  private readonly client: grpc.Client;

  constructor(target: string) {
    this.client = new HealthClient(target, grpc.credentials.createInsecure());
  }

  check(service: string): Promise<health.HealthCheckResponse_ServingStatus> {
    const check = (this.client as unknown as { check: HealthCheck }).check;
    return new Promise((resolve, reject) => {
      check.call(
        this.client,
        create(health.HealthCheckRequestSchema, { service }),
        (error, response) => (error ? reject(error) : resolve(response.status)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

const { SERVING, NOT_SERVING } = health.HealthCheckResponse_ServingStatus;
const INFERENCE_SERVICE = "inference.GRPCInferenceService";

describe("in process: close()", () => {
  let repository: TestRepository;
  let sidecar: Sidecar;
  let client: ProtocolClient;
  let probe: HealthProbe;

  before(async () => {
    repository = await makeShutdownRepository();
    sidecar = await startTestSidecar({ modelRepository: repository.dir });
    client = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`);
    probe = new HealthProbe(`127.0.0.1:${sidecar.grpcPort}`);
  });

  after(async () => {
    client?.close();
    probe?.close();
    await sidecar?.close();
    await repository?.remove();
  });

  it("finishes every queued and running request, refuses new ones, and reports not ready while draining", async () => {
    const target = `127.0.0.1:${sidecar.grpcPort}`;
    // The probe connects now, so during the drain it asks over an open connection.
    assert.equal(await probe.check(""), SERVING);
    assert.equal(await probe.check(INFERENCE_SERVICE), SERVING);
    const inFlight = await sendAndWaitUntilAtServer(client, target, sidecar.metricsPort);

    const closing = sidecar.close();
    // Sent at once, answered while the slow queue drains (each of its batches takes milliseconds).
    const [live, ready, modelReady, healthAll, healthInference, refused] = await Promise.all([
      client.call<{ live: boolean }>("serverLive", create(ServerLiveRequestSchema)),
      client.call<{ ready: boolean }>("serverReady", create(ServerReadyRequestSchema)),
      client.call<{ ready: boolean }>(
        "modelReady",
        create(ModelReadyRequestSchema, { name: "slow", version: "" }),
      ),
      probe.check(""),
      probe.check(INFERENCE_SERVICE),
      statusOf(client.infer(fp32Request("held", 1))),
    ]);
    assert.equal(live.live, true, "a draining server is still alive");
    assert.equal(ready.ready, false);
    assert.equal(modelReady.ready, false);
    assert.equal(healthAll, NOT_SERVING);
    assert.equal(healthInference, NOT_SERVING);
    assert.equal(refused.code, grpc.status.UNAVAILABLE, refused.details);
    assert.match(refused.details, /shutting down/);

    await assertAllSucceed(inFlight);
    await closing;

    const late = new ProtocolClient(target);
    try {
      const error = await statusOf(
        late.call("serverLive", create(ServerLiveRequestSchema), { deadlineMs: 10_000 }),
      );
      assert.equal(error.code, grpc.status.UNAVAILABLE, error.details);
    } finally {
      late.close();
    }
  });
});

describe("the sluice serve process: SIGTERM", () => {
  let repository: TestRepository;
  let child: ChildProcess | undefined;

  before(async () => {
    repository = await makeShutdownRepository();
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null)
      child.kill("SIGKILL");
    await repository?.remove();
  });

  it("drains every in-flight request, then exits 0", { timeout: 120_000 }, async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const serve = spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        join(REPO_ROOT, "clients/cli/src/main.ts"),
        "serve",
        "--model-repository",
        repository.dir,
        "--grpc-port",
        "0",
        "--metrics-port",
        "0",
        "--log-level",
        "info",
      ],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, OTEL_SDK_DISABLED: "true" },
      },
    );
    child = serve;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      serve.once("exit", (code, signal) => resolve({ code, signal })),
    );
    serve.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout.push(chunk));
    // The sidecar logs JSON lines on stderr.
    const ready = new Promise<{ grpcPort: number; metricsPort: number }>((resolve, reject) => {
      createInterface({ input: serve.stderr }).on("line", (line) => {
        stderr.push(line);
        let entry: { msg?: string; grpcPort?: number; metricsPort?: number };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if (
          entry.msg === "sidecar ready" &&
          entry.grpcPort !== undefined &&
          entry.metricsPort !== undefined
        ) {
          resolve({ grpcPort: entry.grpcPort, metricsPort: entry.metricsPort });
        }
      });
      void exited.then(({ code, signal }) =>
        reject(
          new Error(
            `sluice serve exited (${code ?? signal}) before it was ready:\n${stderr.join("\n")}${stdout.join("")}`,
          ),
        ),
      );
    });
    const { grpcPort, metricsPort } = await ready;

    const client = new ProtocolClient(`127.0.0.1:${grpcPort}`);
    try {
      const inFlight = await sendAndWaitUntilAtServer(client, `127.0.0.1:${grpcPort}`, metricsPort);
      const signalledAt = performance.now();
      serve.kill("SIGTERM");
      await assertAllSucceed(inFlight);
      const { code, signal } = await exited;
      const exitMs = performance.now() - signalledAt;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr.join("\n"));
      // The held requests alone would wait a minute for their batch; the drain sends them at once.
      assert.ok(exitMs < 30_000, `exited ${exitMs.toFixed(0)} ms after SIGTERM`);
      assert.match(stderr.join("\n"), /SIGTERM: draining/);
      assert.ok(
        stderr.some((line) => line.includes('"msg":"sidecar stopped"')),
        "logs that it stopped",
      );
    } finally {
      client.close();
    }
  });
});
