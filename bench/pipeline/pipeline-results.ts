/**
 * What one pipeline benchmark run measured, computed from the outputs the reader collected, and
 * its tables and target checks.
 *
 * Fixed rate: the producer offers `rate` events/s for warm-up + window; the window's figures are
 * the outputs appended inside it (events/s) and the end-to-end latency of the events born inside
 * it (output's broker append time − the event's own timestamp). The rate is sustained when the
 * consumer kept up: every event of the phase came out within the drain timeout after the producer
 * stopped, at least 95 % of the offered rate came out during the window, and when the window closed
 * no more than one second's worth of its events were still waiting.
 *
 * Maximum: a preloaded backlog drained by a consumer started after it was written; events/s over
 * a window that opens a warm-up after the first output and closes when the backlog is drained (or
 * after the drain window).
 */
import { cpuShare, type CpuSample } from "../lib/cpu-usage.js";
import { percentile } from "../lib/latency.js";
import { num, table, type Check } from "../lib/report.js";
import type { PhaseOutputs } from "./output-reader.js";
import type { StageReport } from "./stage-times.js";
import { VARIANTS, type Variant } from "./variant-settings.js";

/** Share of the offered rate that must come out during the window. */
export const SUSTAINED_SHARE = 0.95;
/** Events still waiting when the window closes, in seconds' worth of the offered rate. */
export const SUSTAINED_LAG_SECONDS = 1;

export interface LatencyFigures {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * CPU in % of one core over a window: the consumer child, the sidecar child, the reader (this
 * process) and the Redis server.
 */
export interface CpuFigures {
  /** All consumer children together (`--consumers`). */
  readonly consumer: number;
  readonly sidecar: number;
  readonly reader: number;
  readonly redis: number;
  /** The broker process (`--broker-pid`); NaN when not asked for. */
  readonly broker: number;
}

/** CPU counters at one window edge. */
export interface EdgeSample {
  readonly consumer: CpuSample;
  readonly sidecar: CpuSample | undefined;
  readonly broker: CpuSample | undefined;
  /** Redis server CPU so far, ms. */
  readonly redisMs: number;
}

export interface RatePoint {
  /** The variant and its Kafka client: `sluice/platformatic`, `naive`. */
  readonly variant: string;
  readonly rate: number;
  readonly eventsPerSecond: number;
  readonly latency: LatencyFigures;
  /** Events born by the window's end that had not come out by then. */
  readonly lagAtEnd: number;
  /** Events of the phase still missing when the drain timeout ran out. */
  readonly missing: number;
  readonly duplicates: number;
  readonly sustained: boolean;
  /** Why not, when not. */
  readonly verdict: string;
  readonly cpu: CpuFigures;
  /** The consumer's stage times over the window. */
  readonly stages: StageReport | undefined;
}

export interface MaxPoint {
  /** The variant and its Kafka client: `sluice/platformatic`, `naive`. */
  readonly variant: string;
  readonly backlog: number;
  readonly eventsPerSecond: number;
  /** Length of the window the rate was measured over. */
  readonly seconds: number;
  readonly drained: boolean;
  readonly cpu: CpuFigures;
  readonly stages: StageReport | undefined;
}

export interface Window {
  /** Epoch ms. */
  readonly start: number;
  readonly end: number;
}

export function latencyFigures(samples: Float64Array): LatencyFigures {
  const sorted = samples.sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

/** A fixed-rate phase's figures; `produced` is what the producer sent over the whole phase. */
export function ratePoint(
  variant: string,
  rate: number,
  outputs: PhaseOutputs,
  window: Window,
  produced: number,
  cpu: CpuFigures,
  stages: StageReport | undefined,
): RatePoint {
  const latencies: number[] = [];
  let inWindow = 0;
  let bornByEnd = 0;
  let outByEnd = 0;
  for (let i = 0; i < outputs.count; i++) {
    const born = outputs.eventTimes[i]!;
    const appended = outputs.appendTimes[i]!;
    if (born >= window.start && born < window.end) latencies.push(appended - born);
    if (appended >= window.start && appended < window.end) inWindow++;
    if (born < window.end) bornByEnd++;
    if (appended < window.end) outByEnd++;
  }
  const eventsPerSecond = (inWindow * 1000) / (window.end - window.start);
  const missing = Math.max(0, produced - outputs.count);
  const lagAtEnd = bornByEnd - outByEnd;
  const reasons: string[] = [];
  if (missing > 0) reasons.push(`${missing} events not out within the drain timeout`);
  if (eventsPerSecond < SUSTAINED_SHARE * rate)
    reasons.push(`${num(eventsPerSecond / rate)} x the offered rate came out`);
  if (lagAtEnd > SUSTAINED_LAG_SECONDS * rate)
    reasons.push(`${lagAtEnd} events waiting at the window's end`);
  return {
    variant,
    rate,
    eventsPerSecond,
    latency: latencyFigures(Float64Array.from(latencies)),
    lagAtEnd,
    missing,
    duplicates: outputs.duplicates,
    sustained: reasons.length === 0,
    verdict: reasons.length === 0 ? "yes" : `no: ${reasons.join("; ")}`,
    cpu,
    stages,
  };
}

/** The drain rate of a backlog phase: outputs appended in (first + warm-up, end]. */
export function drainRate(
  outputs: PhaseOutputs,
  warmupMs: number,
  windowMs: number,
): { eventsPerSecond: number; seconds: number } {
  const times = Float64Array.from(outputs.appendTimes).sort();
  if (times.length === 0) return { eventsPerSecond: NaN, seconds: 0 };
  const start = times[0]! + warmupMs;
  const end = Math.min(times[times.length - 1]!, start + windowMs);
  let count = 0;
  for (const time of times) if (time > start && time <= end) count++;
  // Under a second of drain after the warm-up is too little to call a rate: the backlog was too small.
  if (end - start < 1000) return { eventsPerSecond: NaN, seconds: (end - start) / 1000 };
  return { eventsPerSecond: (count * 1000) / (end - start), seconds: (end - start) / 1000 };
}

/** CPU over a window from the samples at its edges. */
export function cpuFigures(start: EdgeSample, end: EdgeSample): CpuFigures {
  const c = cpuShare(start.consumer, end.consumer);
  const s = start.sidecar && end.sidecar ? cpuShare(start.sidecar, end.sidecar) : undefined;
  const b = start.broker && end.broker ? cpuShare(start.broker, end.broker) : undefined;
  const wallMs = end.consumer.at - start.consumer.at;
  return {
    consumer: c.serverMain + c.serverOther,
    sidecar: s === undefined ? NaN : s.serverMain + s.serverOther,
    reader: c.client,
    redis: (100 * (end.redisMs - start.redisMs)) / wallMs,
    broker: b === undefined ? NaN : b.serverMain + b.serverOther,
  };
}

/** µs of CPU (consumer + sidecar) per event. */
function cpuPerEvent(cpu: CpuFigures, eventsPerSecond: number): number {
  return (
    ((cpu.consumer + (Number.isNaN(cpu.sidecar) ? 0 : cpu.sidecar)) * 10_000) / eventsPerSecond
  );
}

export const RATE_LEGEND =
  "events/s: outputs appended during the window; latency: output's broker append time (LogAppendTime) minus the\n" +
  "event's timestamp (set by the producer just before its send; same host clock), events born in the window, 1 ms\n" +
  "resolution; lag: events born by the window's end not out by then; CPU in % of one core (consumer child, sidecar\n" +
  "child, the benchmark's output reader, the Redis server); µs/event: consumer + sidecar CPU per event.";

export function rateTable(points: readonly RatePoint[]): string {
  return table([
    [
      "variant",
      "offered/s",
      "events/s",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "max ms",
      "lag",
      "consumer %",
      "sidecar %",
      "reader %",
      "redis %",
      "µs/event",
      "sustained",
    ],
    ...points.map((p) => [
      p.variant,
      num(p.rate, 0),
      num(p.eventsPerSecond, 0),
      num(p.latency.p50, 0),
      num(p.latency.p95, 0),
      num(p.latency.p99, 0),
      num(p.latency.max, 0),
      String(p.lagAtEnd),
      num(p.cpu.consumer, 0),
      num(p.cpu.sidecar, 0),
      num(p.cpu.reader, 0),
      num(p.cpu.redis, 0),
      num(cpuPerEvent(p.cpu, p.eventsPerSecond), 0),
      p.verdict,
    ]),
  ]);
}

export function maxTable(points: readonly MaxPoint[]): string {
  return table([
    [
      "variant",
      "backlog",
      "events/s",
      "over s",
      "drained",
      "consumer %",
      "sidecar %",
      "reader %",
      "redis %",
      "broker %",
      "µs/event",
      "consumer µs/event",
      "sidecar µs/event",
      "redis µs/event",
      "broker µs/event",
    ],
    ...points.map((p) => {
      const perEvent = (percent: number) => num((percent * 10_000) / p.eventsPerSecond, 1);
      return [
        p.variant,
        num(p.backlog, 0),
        num(p.eventsPerSecond, 0),
        num(p.seconds, 1),
        p.drained ? "yes" : "no",
        num(p.cpu.consumer, 0),
        num(p.cpu.sidecar, 0),
        num(p.cpu.reader, 0),
        num(p.cpu.redis, 1),
        num(p.cpu.broker, 0),
        num(cpuPerEvent(p.cpu, p.eventsPerSecond), 0),
        // Each part apart, for a capacity model: the consumer's own, the sidecar's, the feature
        // state's on the Redis server and the broker's.
        perEvent(p.cpu.consumer),
        perEvent(p.cpu.sidecar),
        perEvent(p.cpu.redis),
        perEvent(p.cpu.broker),
      ];
    }),
  ]);
}

export const SCALE_OUT_LEGEND =
  "members: consumer processes in the group (8 partitions between them); ÷ one: events/s over the single\n" +
  "consumer's in this run; consumer %: all members together, in % of one core; µs/event: their CPU per event.";

/** The maximum drain by one member against several (`--consumers`), from the same run. */
export function scaleOutTable(one: MaxPoint | undefined, scaled: readonly MaxPoint[]): string {
  const members = (p: MaxPoint) => Number(/ ×(\d+)$/.exec(p.variant)?.[1] ?? "1");
  const points = one === undefined ? scaled : [one, ...scaled];
  return table([
    ["members", "events/s", "÷ one", "consumer %", "consumer µs/event", "redis µs/event"],
    ...points.map((p) => [
      String(members(p)),
      num(p.eventsPerSecond, 0),
      one === undefined ? "n/a" : `${num(p.eventsPerSecond / one.eventsPerSecond)} x`,
      num(p.cpu.consumer, 0),
      num((p.cpu.consumer * 10_000) / p.eventsPerSecond, 1),
      num((p.cpu.redis * 10_000) / p.eventsPerSecond, 1),
    ]),
  ]);
}

/** Stage names in the order an event meets them. */
const STAGE_ORDER = ["eachBatch", "features", "redis", "infer", "produce", "commit"];

export const STAGE_LEGEND =
  "Per stage over the window: calls/s, items per call (events, rows or records) and mean / max wall ms per call;\n" +
  "eachBatch is one fetched batch of one partition handed to the consumer (for Sluice it includes the linger wait,\n" +
  "redis/infer/produce/commit are the pipeline's port calls); for the article, eachBatch is one micro-batch of up to\n" +
  "100 events from any partitions, features its JSON decoding and features, infer its onnxruntime call, produce its\n" +
  "records handed to librdkafka, commit a producer flush and a synchronous commit (every 5 s); loop p99/max: the\n" +
  "child's event-loop delay (none in Python).";

/** The consumer's stage times, one row per measured point. */
export function stageTable(
  rows: readonly { readonly label: string; readonly stages: StageReport | undefined }[],
): string {
  const cells = (report: StageReport | undefined, stage: string) => {
    const f = report?.stages[stage];
    if (report === undefined || f === undefined) return "-";
    return `${num(f.calls / report.seconds, 0)}/s × ${num(f.items / f.calls, 1)}, ${num(f.meanMs, 1)} / ${num(f.maxMs, 0)} ms`;
  };
  return table([
    ["point", ...STAGE_ORDER, "loop p99/max ms"],
    ...rows.map(({ label, stages }) => [
      label,
      ...STAGE_ORDER.map((stage) => cells(stages, stage)),
      stages === undefined || stages.loopDelayP99Ms === null || stages.loopDelayMaxMs === null
        ? "-"
        : `${num(stages.loopDelayP99Ms, 0)} / ${num(stages.loopDelayMaxMs, 0)}`,
    ]),
  ]);
}

/** The targets, each from figures of this run. */
/** The targets, for each Kafka client with its sluice and passthrough runs. */
export function pipelineChecks(
  rates: readonly RatePoint[],
  maxima: readonly MaxPoint[],
  clients: readonly string[],
): Check[] {
  const max = (label: string) => maxima.find((p) => p.variant === label)?.eventsPerSecond;
  const checks: Check[] = [];
  for (const client of clients) {
    const sluiceLabel = `sluice/${client}`;
    const sluice = max(sluiceLabel);
    for (const [other, factor] of [
      [`passthrough/${client}`, 0.7],
      ["naive", 10],
    ] as const) {
      const base = max(other);
      const target = `${sluiceLabel} >= ${factor} x ${other} events/s (maximum sustainable rate)`;
      checks.push(
        sluice === undefined || base === undefined
          ? { target, ratio: undefined, detail: `needs ${sluiceLabel} and ${other}` }
          : {
              target,
              ratio: sluice / (factor * base),
              detail: `${num(sluice, 0)} / ${num(base, 0)} = ${num(sluice / base)} x (target ${factor})`,
            },
      );
    }
    const at2k = rates.find((p) => p.variant === sluiceLabel && p.rate === 2000);
    const target = `${sluiceLabel} p99 <= 25 ms at 2,000 events/s`;
    checks.push(
      at2k === undefined
        ? { target, ratio: undefined, detail: `needs ${sluiceLabel} and --rates including 2000` }
        : {
            target,
            ratio: at2k.sustained ? 25 / at2k.latency.p99 : 0,
            detail: `p99 ${num(at2k.latency.p99, 0)} ms (p50 ${num(at2k.latency.p50, 0)}, p95 ${num(at2k.latency.p95, 0)}); sustained: ${at2k.verdict}`,
          },
    );
  }
  return checks;
}

/**
 * Sluice against each other variant of the run: maximum drain rate (sluice ÷ other, above 1 when
 * Sluice drains faster) and p99 at each fixed rate both were offered (sluice ÷ other, below 1 when
 * Sluice's tail is shorter). `sluice` is the label of the Sluice run compared (`sluice/platformatic`
 * when several clients ran); a variant not run shows what to add to `--variants`.
 */
export function ratioTable(
  rates: readonly RatePoint[],
  maxima: readonly MaxPoint[],
  sluice: string,
): string {
  const rows: string[][] = [["sluice ÷", "measure", "sluice", "other", "ratio", "sustained"]];
  const sluiceMax = maxima.find((p) => p.variant === sluice);
  const sluiceRates = rates.filter((p) => p.variant === sluice);
  const ran = [...new Set([...maxima, ...rates].map((p) => p.variant))].filter((v) => v !== sluice);
  const missing = VARIANTS.filter(
    (variant: Variant) =>
      variant !== "sluice" && !ran.some((label) => label.split("/")[0] === variant),
  );
  for (const other of ran) {
    const otherMax = maxima.find((p) => p.variant === other);
    const otherRates = rates.filter((p) => p.variant === other);
    if (sluiceMax !== undefined && otherMax !== undefined) {
      rows.push([
        other,
        "max drain events/s",
        num(sluiceMax.eventsPerSecond, 0),
        num(otherMax.eventsPerSecond, 0),
        `${num(sluiceMax.eventsPerSecond / otherMax.eventsPerSecond)} x`,
        "",
      ]);
    }
    for (const point of sluiceRates) {
      const base = otherRates.find((p) => p.rate === point.rate);
      if (base === undefined) continue;
      rows.push([
        other,
        `p99 ms at ${num(point.rate, 0)}/s`,
        num(point.latency.p99, 0),
        num(base.latency.p99, 0),
        `${num(point.latency.p99 / base.latency.p99)} x`,
        `${point.sustained ? "yes" : "no"} / ${base.sustained ? "yes" : "no"}`,
      ]);
    }
  }
  for (const other of missing) {
    rows.push([other, "-", "-", "-", "n/a", `needs --variants sluice,${other}`]);
  }
  return table(rows);
}

export const RATIO_LEGEND =
  "max drain: above 1 x when Sluice drains the backlog faster; p99: below 1 x when Sluice's tail is shorter;\n" +
  "sustained: Sluice / the other variant at that rate (an unsustained rate's p99 is its backlog's age).";

/** µs of the consumer process's CPU (main and other threads) per event. */
function consumerCpuPerEvent(cpu: CpuFigures, eventsPerSecond: number): number {
  return (cpu.consumer * 10_000) / eventsPerSecond;
}

export const CLIENT_LEGEND =
  "max: events/s draining the backlog; µs/event: the consumer process's CPU per event at that rate (sidecar,\n" +
  "Redis and reader not included); p99 at 2,000/s in ms; ratios: first client ÷ each other, from this run.";

/** The pipeline and its passthrough side by side for each client, and the ratios between clients. */
export function clientTable(
  rates: readonly RatePoint[],
  maxima: readonly MaxPoint[],
  clients: readonly string[],
): string {
  const figures = clients.map((client) => {
    const row = (variant: string) => {
      const point = maxima.find((p) => p.variant === `${variant}/${client}`);
      return point === undefined
        ? { max: NaN, cpu: NaN }
        : {
            max: point.eventsPerSecond,
            cpu: consumerCpuPerEvent(point.cpu, point.eventsPerSecond),
          };
    };
    const at2k = rates.find((p) => p.variant === `sluice/${client}` && p.rate === 2000);
    return {
      client,
      sluice: row("sluice"),
      passthrough: row("passthrough"),
      p99: at2k?.latency.p99 ?? NaN,
    };
  });
  const rows = figures.map((f) => [
    f.client,
    num(f.sluice.max, 0),
    num(f.sluice.cpu, 1),
    num(f.p99, 0),
    num(f.passthrough.max, 0),
    num(f.passthrough.cpu, 1),
    num(f.sluice.max / f.passthrough.max),
  ]);
  const [first, ...others] = figures;
  if (first !== undefined) {
    for (const other of others) {
      rows.push([
        `${first.client} ÷ ${other.client}`,
        num(first.sluice.max / other.sluice.max),
        num(first.sluice.cpu / other.sluice.cpu),
        num(first.p99 / other.p99),
        num(first.passthrough.max / other.passthrough.max),
        num(first.passthrough.cpu / other.passthrough.cpu),
        "",
      ]);
    }
  }
  return table([
    [
      "client",
      "sluice max/s",
      "µs/event",
      "p99 @2k ms",
      "passthrough max/s",
      "µs/event",
      "sluice ÷ passthrough",
    ],
    ...rows,
  ]);
}
