/**
 * What the sidecar says about a measured window: its Prometheus counters (rows and executions, so
 * the mean batch size) and Triton's ModelStatistics (where the server's time went: queue, input,
 * compute, output), each read before and after the window and subtracted.
 */
import { parsePrometheusText, sumSamples } from "@sluice/kit";
import type { ModelStatistics, StatisticDuration } from "@sluice/proto";
import type { RawInferClients } from "./raw-client.js";

/** Sum of the samples of `name` whose labels include `labels`, from `/metrics` text. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  return sumSamples(parsePrometheusText(text), name, labels);
}

interface Timing {
  count: number;
  ns: number;
}

export interface SidecarSnapshot {
  readonly rows: number;
  readonly executions: number;
  readonly success: Timing;
  readonly queue: Timing;
  readonly computeInput: Timing;
  readonly computeInfer: Timing;
  readonly computeOutput: Timing;
  /** Per executed batch size: executions with their whole time (input+infer+output) and ONNX Runtime's part. */
  readonly batches: ReadonlyMap<number, { readonly total: Timing; readonly infer: Timing }>;
}

export interface WindowBreakdown {
  /** Rows per execution (from sluice_inference_rows_total / sluice_inference_executions_total). */
  readonly meanBatch: number;
  readonly executions: number;
  /** Per request, server side: receipt to outputs ready (excludes response encoding and gRPC). */
  readonly serverMs: number;
  /** Per request: waiting in the batcher. */
  readonly queueMs: number;
  /** Per request: concatenation and the hop to the worker and back. */
  readonly inputMs: number;
  /** Per request: ONNX Runtime compute of the batch the request ran in. */
  readonly inferMs: number;
  /** Per request: splitting the outputs. */
  readonly outputMs: number;
  /** Per execution: input + infer + output, at the batch sizes observed in the window. */
  readonly executionMs: number;
  /** Per execution: the part inside `session.run`; the rest is the hop to the worker thread and back. */
  readonly executionInferMs: number;
}

const timing = (duration: StatisticDuration | undefined): Timing => ({
  count: Number(duration?.count ?? 0n),
  ns: Number(duration?.ns ?? 0n),
});

async function fetchMetrics(metricsPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics: expected 200, got ${response.status}`);
  return response.text();
}

/** Counters of `model` version `version` now. */
export async function snapshot(
  clients: RawInferClients,
  metricsPort: number,
  model: string,
  version: string,
): Promise<SidecarSnapshot> {
  const [text, statistics] = await Promise.all([
    fetchMetrics(metricsPort),
    clients.statistics(model, version),
  ]);
  const labels = { model, version };
  const stats: ModelStatistics | undefined = statistics.modelStats[0];
  if (stats === undefined)
    throw new Error(
      `ModelStatistics: expected statistics of ${model} version ${version}, got none`,
    );
  const batches = new Map<number, { total: Timing; infer: Timing }>();
  for (const batch of stats.batchStats) {
    const input = timing(batch.computeInput);
    const infer = timing(batch.computeInfer);
    const output = timing(batch.computeOutput);
    batches.set(Number(batch.batchSize), {
      total: { count: infer.count, ns: input.ns + infer.ns + output.ns },
      infer,
    });
  }
  return {
    rows: metricValue(text, "sluice_inference_rows_total", labels),
    executions: metricValue(text, "sluice_inference_executions_total", labels),
    success: timing(stats.inferenceStats?.success),
    queue: timing(stats.inferenceStats?.queue),
    computeInput: timing(stats.inferenceStats?.computeInput),
    computeInfer: timing(stats.inferenceStats?.computeInfer),
    computeOutput: timing(stats.inferenceStats?.computeOutput),
    batches,
  };
}

/** What happened between two snapshots. */
export function breakdown(before: SidecarSnapshot, after: SidecarSnapshot): WindowBreakdown {
  const perRequest = (
    key: "success" | "queue" | "computeInput" | "computeInfer" | "computeOutput",
  ) => {
    const count = after[key].count - before[key].count;
    return count === 0 ? NaN : (after[key].ns - before[key].ns) / count / 1e6;
  };
  let executions = 0;
  let executionNs = 0;
  let inferNs = 0;
  for (const [size, batch] of after.batches) {
    const earlier = before.batches.get(size);
    executions += batch.total.count - (earlier?.total.count ?? 0);
    executionNs += batch.total.ns - (earlier?.total.ns ?? 0);
    inferNs += batch.infer.ns - (earlier?.infer.ns ?? 0);
  }
  const executed = after.executions - before.executions;
  return {
    meanBatch: executed === 0 ? NaN : (after.rows - before.rows) / executed,
    executions: executed,
    serverMs: perRequest("success"),
    queueMs: perRequest("queue"),
    inputMs: perRequest("computeInput"),
    inferMs: perRequest("computeInfer"),
    outputMs: perRequest("computeOutput"),
    executionMs: executions === 0 ? NaN : executionNs / executions / 1e6,
    executionInferMs: executions === 0 ? NaN : inferNs / executions / 1e6,
  };
}
