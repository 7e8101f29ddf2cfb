/**
 * The benchmark's targets, each checked against figures of the same run:
 * - the sidecar answers at least 0.8 x the echo server's requests/s at 64 clients (fraud);
 * - batching on serves at least 5 x the requests/s of batching off at 64 clients (fraud-mlp);
 * - 256-row requests reach at least 0.7 x in-process ORT's rows/s at batch 256;
 * - p99 at 64 clients stays within the max queue delay plus two executions.
 */
import type { OrtPoint } from "./in-process-ort.js";
import { num, type Check } from "./report.js";
import type { BenchResults } from "./results.js";

export function ortAt(
  ort: ReadonlyMap<string, readonly OrtPoint[]>,
  model: string,
  batch: number,
): OrtPoint | undefined {
  return ort.get(model)?.find((point) => point.batchSize === batch);
}

export interface TargetInputs {
  /** Models that ran, by name. */
  readonly models: readonly string[];
  /** Rows per request of the `rows` section. */
  readonly largeRequestRows: number;
  /** The configured max queue delay of a model, in milliseconds. */
  readonly queueDelayMs: (model: string) => Promise<number>;
}

/** The targets, each with its measured ratio; n/a when the run skipped what a target needs. */
export async function targetChecks(results: BenchResults, inputs: TargetInputs): Promise<Check[]> {
  const { ort, echo, sidecar, rows } = results;
  const LARGE_REQUEST_ROWS = inputs.largeRequestRows;
  const at = (model: string, batching: boolean, clients: number) =>
    sidecar.find(
      (run) => run.model === model && run.batching === batching && run.load.concurrency === clients,
    );
  const checks: Check[] = [];

  const fraud64 = at("fraud", true, 64);
  const echo64 = echo.find((point) => point.load.concurrency === 64)?.load;
  checks.push(
    fraud64 && echo64
      ? {
          target: "sidecar >= 0.8 x echo req/s at 64 clients (fraud, batching on)",
          ratio: fraud64.load.requestsPerSecond / (0.8 * echo64.requestsPerSecond),
          detail: `${num(fraud64.load.requestsPerSecond, 0)} / ${num(echo64.requestsPerSecond, 0)} = ${num(fraud64.load.requestsPerSecond / echo64.requestsPerSecond)} x echo (target 0.8)`,
        }
      : {
          target: "sidecar >= 0.8 x echo at 64 clients",
          ratio: undefined,
          detail: "needs --only echo,sidecar with fraud and 64 clients",
        },
  );

  const on = at("fraud-mlp", true, 64);
  const off = at("fraud-mlp", false, 64);
  checks.push(
    on && off
      ? {
          target: "batching on >= 5 x off at 64 clients (fraud-mlp)",
          ratio: on.load.requestsPerSecond / (5 * off.load.requestsPerSecond),
          detail: `${num(on.load.requestsPerSecond, 0)} / ${num(off.load.requestsPerSecond, 0)} req/s = ${num(on.load.requestsPerSecond / off.load.requestsPerSecond)} x (target 5)`,
        }
      : {
          target: "batching on >= 5 x off (fraud-mlp)",
          ratio: undefined,
          detail: "needs --only sidecar with fraud-mlp and 64 clients",
        },
  );

  for (const name of inputs.models) {
    const run = rows.find((r) => r.model === name);
    const inProcess = ortAt(ort, name, LARGE_REQUEST_ROWS);
    const target = `${LARGE_REQUEST_ROWS}-row requests >= 0.7 x in-process ORT rows/s at batch ${LARGE_REQUEST_ROWS} (${name})`;
    if (run === undefined || inProcess === undefined) {
      checks.push({ target, ratio: undefined, detail: "needs --only rows" });
      continue;
    }
    const rowsPerSecond = run.load.requestsPerSecond * LARGE_REQUEST_ROWS;
    checks.push({
      target,
      ratio: rowsPerSecond / (0.7 * inProcess.rowsPerSecond),
      detail: `${num(rowsPerSecond, 0)} / ${num(inProcess.rowsPerSecond, 0)} rows/s = ${num(rowsPerSecond / inProcess.rowsPerSecond)} x (target 0.7)`,
    });
  }

  for (const name of inputs.models) {
    const run = at(name, true, 64);
    const target = `p99 at 64 clients <= max queue delay + 2 executions (${name}, batching on)`;
    if (run === undefined) {
      checks.push({ target, ratio: undefined, detail: "needs --only sidecar with 64 clients" });
      continue;
    }
    const delayMs = await inputs.queueDelayMs(name);
    const bound = delayMs + 2 * run.window.executionMs;
    // The in-process time at the next measured batch size, when the ort section measured one close by.
    const nearest = ort.get(name)?.find((p) => p.batchSize >= run.window.meanBatch);
    const reference =
      nearest && nearest.batchSize <= 2 * run.window.meanBatch
        ? `; in-process run at batch ${nearest.batchSize}: ${num(nearest.msPerRun, 3)} ms`
        : "";
    checks.push({
      target,
      ratio: bound / run.load.latency.p99Ms,
      detail:
        `p99 ${num(run.load.latency.p99Ms, 3)} ms vs bound ${num(bound, 3)} ms = ${num(delayMs, 3)} ms delay + 2 x ${num(run.window.executionMs, 3)} ms ` +
        `(sidecar execution at mean batch ${num(run.window.meanBatch, 1)}${reference}); p99/bound = ${num(run.load.latency.p99Ms / bound)}`,
    });
  }
  return checks;
}
