/**
 * The text of one `sluice top` refresh: per pipeline (summed over its consumers) throughput, lag,
 * end-to-end latency, micro-batches, stage times, model versions and what went wrong; per sidecar
 * its models' rows per second, batch sizes and latency. Plain lines: the command decides how to
 * draw them (redrawn in place on a terminal, appended otherwise).
 */
import type { MetricsWindow } from "./metrics-window.js";

export interface TopViewOptions {
  /** Partitions listed by lag, furthest behind first. */
  readonly partitions: number;
}

const STAGES = ["decode", "features", "inference", "produce", "commit"] as const;

/** The lines of one refresh; `consumers` and `sidecars` are windows over each kind of endpoint. */
export function topView(
  consumers: MetricsWindow,
  sidecars: MetricsWindow,
  options: TopViewOptions,
): string[] {
  const lines: string[] = [];
  const pipelines = consumers.labelValues("sluice_consumer_events_total", "pipeline");
  if (pipelines.length === 0) lines.push("consumers: no pipeline metrics yet");
  for (const pipeline of pipelines) lines.push(...pipelineLines(consumers, pipeline, options));
  lines.push("");
  const models = sidecars.labelValues("sluice_inference_rows_total", "model");
  if (models.length === 0) lines.push("sidecar: no inference metrics yet");
  for (const model of models) lines.push(...modelLines(sidecars, model));
  return lines;
}

function pipelineLines(w: MetricsWindow, pipeline: string, options: TopViewOptions): string[] {
  const p = { pipeline };
  const lines: string[] = [];
  const versions = w
    .samples("sluice_consumer_model_info", p)
    .filter((s) => s.value === 1)
    .map((s) => `${s.labels["model"]} v${s.labels["version"]}`);
  const members = w.samples("sluice_consumer_events_total", p).length;
  lines.push(
    `pipeline ${pipeline}  ${plural(members, "consumer")}  ${w.total("sluice_consumer_assigned_partitions", p)} partitions  model ${unique(versions).join(", ") || "-"}  rebalances ${w.total("sluice_consumer_rebalances_total", p)}`,
  );
  lines.push(
    `  throughput   in ${perSecond(w.rate("sluice_consumer_events_total", p))}  predictions ${perSecond(w.rate("sluice_consumer_predictions_total", p))}  produced ${perSecond(w.rate("sluice_consumer_records_produced_total", p))}  (totals: ${w.total("sluice_consumer_events_total", p)} in, ${w.total("sluice_consumer_predictions_total", p)} predictions)`,
  );
  const lags = w
    .samples("sluice_consumer_lag", p)
    .sort(
      (a, b) =>
        b.value - a.value ||
        (a.labels["partition"] ?? "").localeCompare(b.labels["partition"] ?? ""),
    );
  const furthest = lags
    .slice(0, options.partitions)
    .map((s) => `${s.labels["topic"]}[${s.labels["partition"]}] ${s.value}`);
  lines.push(
    `  lag          ${w.total("sluice_consumer_lag", p)}${furthest.length > 0 ? `  (${furthest.join(", ")})` : ""}`,
  );
  const latency = "sluice_consumer_end_to_end_latency_seconds";
  lines.push(
    `  end-to-end   p50 ${duration(w.quantile(0.5, latency, p))}  p95 ${duration(w.quantile(0.95, latency, p))}  p99 ${duration(w.quantile(0.99, latency, p))}`,
  );
  const size = "sluice_consumer_micro_batch_size";
  lines.push(
    `  micro-batch  mean ${fixed(w.mean(size, p), 1)} events  p95 ${fixed(w.quantile(0.95, size, p), 0)}  ${perSecond(w.rate(`${size}_count`, p))}`,
  );
  const stages = STAGES.map(
    (stage) =>
      `${stage} ${duration(w.mean("sluice_consumer_stage_duration_seconds", { ...p, stage }))}`,
  );
  lines.push(`  stages mean  ${stages.join("  ")}`);
  const score = "sluice_consumer_prediction_score";
  const confidence = "sluice_consumer_prediction_confidence";
  lines.push(
    `  scores       mean ${fixed(w.mean(score, p), 3)}  p95 ${fixed(w.quantile(0.95, score, p), 3)}  confidence mean ${fixed(w.mean(confidence, p), 3)}`,
  );
  lines.push(
    `  outcomes     reviews ${w.total("sluice_consumer_reviews_total", p)}  dead letters ${byCode(w, "sluice_consumer_dead_letters_total", pipeline)}  retries ${byCode(w, "sluice_consumer_retries_total", pipeline)}`,
  );
  return lines;
}

function modelLines(w: MetricsWindow, model: string): string[] {
  const lines: string[] = [];
  const ready = w
    .samples("sluice_model_ready", { model })
    .filter((s) => s.value === 1)
    .map((s) => `v${s.labels["version"]}`);
  lines.push(`sidecar model ${model}  ready ${unique(ready).join(", ") || "-"}`);
  for (const version of w.labelValues("sluice_inference_rows_total", "version", { model })) {
    const v = { model, version };
    const rows = w.increase("sluice_inference_rows_total", v);
    const executions = w.increase("sluice_inference_executions_total", v);
    const request = "sluice_inference_request_duration_seconds";
    lines.push(
      `  v${version}  rows ${perSecond(w.rate("sluice_inference_rows_total", v))}  batch mean ${fixed(executions > 0 ? rows / executions : w.mean("sluice_inference_batch_size", v), 1)} rows  request p50 ${duration(w.quantile(0.5, request, v))} p99 ${duration(w.quantile(0.99, request, v))}  pending ${w.total("sluice_inference_pending_requests", v)}  failures ${w.total("sluice_inference_requests_total", { ...v, outcome: "failure" })}`,
    );
  }
  return lines;
}

function byCode(w: MetricsWindow, name: string, pipeline: string): string {
  const total = w.total(name, { pipeline });
  const codes = w
    .labelValues(name, "code", { pipeline })
    .map((code) => ({ code, count: w.total(name, { pipeline, code }) }))
    .filter(({ count }) => count > 0)
    .map(({ code, count }) => `${code} ${count}`);
  return codes.length === 0 ? String(total) : `${total} (${codes.join(", ")})`;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function perSecond(value: number | undefined): string {
  return value === undefined ? "-/s" : `${fixed(value, value < 10 ? 1 : 0)}/s`;
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

/** Seconds as `850 µs`, `12.3 ms` or `1.24 s`. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "-";
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}
