/** What one benchmark run measured, and its rows in the printed tables. */
import type { CpuShare } from "./cpu-usage.js";
import type { OrtPoint } from "./in-process-ort.js";
import type { LoadResult } from "./load.js";
import { num } from "./report.js";
import type { WindowBreakdown } from "./sidecar-probe.js";

/** One load point: what the clients saw, where the CPU went, and (sidecar) what the server counted. */
export interface Point {
  readonly load: LoadResult;
  readonly cpu: CpuShare;
}
export interface SidecarPoint extends Point {
  readonly window: WindowBreakdown;
}
export interface SidecarRun extends SidecarPoint {
  readonly model: string;
  readonly batching: boolean;
}
export interface RowsRun extends SidecarPoint {
  readonly model: string;
}

export interface BenchResults {
  /** In-process ONNX Runtime by model name. */
  readonly ort: ReadonlyMap<string, readonly OrtPoint[]>;
  readonly echo: readonly Point[];
  readonly sidecar: readonly SidecarRun[];
  readonly rows: readonly RowsRun[];
}

export const LOAD_HEADER = ["clients", "req/s", "p50 ms", "p99 ms", "p99/p50"];
export function loadCells(load: LoadResult): string[] {
  return [
    String(load.concurrency),
    num(load.requestsPerSecond, 0),
    num(load.latency.p50Ms),
    num(load.latency.p99Ms),
    num(load.latency.p99Ms / load.latency.p50Ms, 1),
  ];
}
export const CPU_HEADER = ["srv main %", "srv other %", "client %"];
export function cpuCells(cpu: CpuShare): string[] {
  return [num(cpu.serverMain, 0), num(cpu.serverOther, 0), num(cpu.client, 0)];
}
export const SIDECAR_HEADER = [
  "model",
  "batching",
  ...LOAD_HEADER,
  "rows/exec",
  "exec ms",
  "ORT ms",
  "queue ms",
  "outside ms",
  ...CPU_HEADER,
];
export function sidecarCells(model: string, batching: boolean, point: SidecarPoint): string[] {
  const { load, window } = point;
  return [
    model,
    batching ? "on" : "off",
    ...loadCells(load),
    num(window.meanBatch, 1),
    num(window.executionMs, 3),
    num(window.executionInferMs, 3),
    num(window.queueMs, 3),
    num(load.latency.meanMs - window.serverMs, 3),
    ...cpuCells(point.cpu),
  ];
}

export const SIDECAR_LEGEND =
  "rows/exec: mean batch (sluice_inference_rows_total / sluice_inference_executions_total); exec ms: mean execution\n" +
  "(ModelStatistics batch_stats input+infer+output), ORT ms: its compute_infer part (inside session.run);\n" +
  "queue ms: per request (inference_stats queue); outside ms: client mean latency minus the server's\n" +
  "receipt-to-outputs time (gRPC, decode, encode, event-loop waits); srv main/other %, client %: CPU of the\n" +
  "sidecar's main thread, of its other threads (model worker, ORT, GC) and of the load generator, in % of one core.";

export const ROWS_HEADER = [
  "model",
  "req/s",
  "rows/s",
  "p50 ms",
  "p99 ms",
  "rows/exec",
  "exec ms",
  "ORT ms",
  "in-process rows/s",
  "ratio",
  ...CPU_HEADER,
];
/** A `rows` run of `rowsPerRequest`-row requests, against in-process ORT at that batch size. */
export function rowsCells(
  run: RowsRun,
  rowsPerRequest: number,
  inProcess: OrtPoint | undefined,
): string[] {
  const rowsPerSecond = run.load.requestsPerSecond * rowsPerRequest;
  return [
    run.model,
    num(run.load.requestsPerSecond, 0),
    num(rowsPerSecond, 0),
    num(run.load.latency.p50Ms),
    num(run.load.latency.p99Ms),
    num(run.window.meanBatch, 1),
    num(run.window.executionMs, 3),
    num(run.window.executionInferMs, 3),
    num(inProcess?.rowsPerSecond ?? NaN, 0),
    num(rowsPerSecond / (inProcess?.rowsPerSecond ?? NaN)),
    ...cpuCells(run.cpu),
  ];
}
