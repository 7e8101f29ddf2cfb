/**
 * Test support for batching and shutdown: per-model configs written into a temp repository, FP32
 * requests with distinct rows, cancellable calls, statistics and Prometheus samples, and polling for
 * a server state (never a fixed sleep) before the next step of a test.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  InferParameterSchema,
  ModelInferRequestSchema,
  ModelStatisticsRequestSchema,
  type ModelInferResponse,
  type ModelStatistics,
  type ModelStatisticsResponse,
} from "@sluice/proto";
import { readMetric } from "../read-metric.js";
import { raw, type ProtocolClient } from "./test-sidecar.js";

/**
 * A queue delay no test outlives: a batch that is not full waits for it, so requests stay queued
 * until the test fills the batch, cancels them or drains the server. Holding them this way makes
 * queue states exact instead of racing a model's compute time.
 */
export const HOLD_QUEUE_MICROS = 60_000_000;

/** Element `k` of row `row` sent by caller `caller`: distinct (also as FP32) for caller < 100, row < 1000 and k < 100. */
export function rowValue(caller: number, row: number, k: number): number {
  return caller * 1000 + row + k / 100;
}

export interface Fp32RequestOptions {
  readonly input?: string;
  readonly width?: number;
  /** Fills the rows; defaults to `rowValue(caller, row, k)`. */
  readonly caller?: number;
  readonly priority?: number;
  /** The `timeout` request parameter, in microseconds. */
  readonly timeoutMicros?: number;
}

/** A ModelInfer request of `rows` FP32 rows in raw contents. */
export function fp32Request(model: string, rows: number, options: Fp32RequestOptions = {}) {
  const width = options.width ?? 4;
  const caller = options.caller ?? 0;
  const data = Float32Array.from({ length: rows * width }, (_, i) =>
    rowValue(caller, Math.floor(i / width), i % width),
  );
  const parameters: Record<string, ReturnType<typeof int64Parameter>> = {};
  if (options.priority !== undefined) parameters["priority"] = int64Parameter(options.priority);
  if (options.timeoutMicros !== undefined)
    parameters["timeout"] = int64Parameter(options.timeoutMicros);
  return create(ModelInferRequestSchema, {
    modelName: model,
    inputs: [
      { name: options.input ?? "INPUT0", datatype: "FP32", shape: [BigInt(rows), BigInt(width)] },
    ],
    rawInputContents: [raw(data)],
    parameters,
  });
}

function int64Parameter(value: number) {
  return create(InferParameterSchema, {
    parameterChoice: { case: "int64Param", value: BigInt(value) },
  });
}

export interface PendingCall {
  readonly response: Promise<ModelInferResponse>;
  cancel(): void;
}

type UnaryWithCall = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: ModelInferResponse) => void,
) => grpc.ClientUnaryCall;

/** Starts a ModelInfer that the test can cancel, as a client that gives up would. */
export function startInfer(
  client: ProtocolClient,
  request: ReturnType<typeof fp32Request>,
  deadlineMs?: number,
): PendingCall {
  const method = (client.client as unknown as { modelInfer: UnaryWithCall }).modelInfer;
  let call!: grpc.ClientUnaryCall;
  const response = new Promise<ModelInferResponse>((resolve, reject) => {
    const options: grpc.CallOptions =
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    call = method.call(client.client, request, new grpc.Metadata(), options, (error, message) =>
      error ? reject(error) : resolve(message),
    );
  });
  // A test that cancels or expects a failure attaches its own handler; this one only keeps an
  // unobserved rejection from failing the run before the test looks at it.
  response.catch(() => undefined);
  return { response, cancel: () => call.cancel() };
}

export async function modelStatistics(
  client: ProtocolClient,
  model: string,
): Promise<ModelStatistics> {
  const response = await client.call<ModelStatisticsResponse>(
    "modelStatistics",
    create(ModelStatisticsRequestSchema, { name: model, version: "" }),
  );
  const stats = response.modelStats[0];
  if (stats === undefined) throw new Error(`no statistics for model "${model}"`);
  return stats;
}

/** Rows per executed batch size, from ModelStatistics: `{ 8: 1 }` is one execution of 8 rows. */
export function executionsBySize(stats: ModelStatistics): Record<number, number> {
  return Object.fromEntries(
    stats.batchStats.map((b) => [Number(b.batchSize), Number(b.computeInfer?.count ?? 0n)]),
  );
}

/** Requests of `model` queued and not running, as the sidecar reports them on /metrics. */
export async function pendingRequests(metricsPort: number, model: string): Promise<number> {
  return await readMetric(metricsPort, "sluice_inference_pending_requests", {
    model,
    version: "1",
  });
}
