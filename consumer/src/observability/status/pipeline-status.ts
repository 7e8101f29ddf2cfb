/**
 * What the status page shows of one pipeline, derived from two readings of the consumer's metrics
 * registry: a `StatusSample` (the rates and distributions of the interval between them, one point
 * of each chart) and a `PipelineNow` (the figures as they stand, for the tables). Metric names are
 * those of docs/metrics.md; the drift and evaluation series are read when the pipeline has them.
 */
import { bucketDifference, histogramQuantile } from "./histogram-quantile.js";
import type { MetricsReading } from "./metrics-reading.js";

/** The evaluated metrics, by the suffix of their gauge (`sluice_consumer_evaluation_<suffix>`). */
export const EVALUATION_METRICS = [
  "precision",
  "recall",
  "roc_auc",
  "log_loss",
  "brier",
  "labels",
] as const;
export type EvaluationMetric = (typeof EVALUATION_METRICS)[number];

/** PSI bands as `sluice_consumer_drift_band` numbers them. */
const DRIFT_BANDS = ["stable", "moderate", "major"] as const;

/** One point of every chart: the interval that ended at `time`. */
export interface StatusSample {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Per second over the interval; null for the first reading (no interval yet). */
  readonly eventsPerSecond: number | null;
  readonly predictionsPerSecond: number | null;
  readonly deadLettersPerSecond: number | null;
  /** Records behind, all owned partitions together; null while the pipeline owns none. */
  readonly lag: number | null;
  /** Seconds, of the events committed in the interval; null when none was. */
  readonly latency: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
  /** Mean events per micro-batch delivered in the interval; null when none was. */
  readonly batchSize: number | null;
  /** Rollout arm → predictions per second. */
  readonly armPredictionsPerSecond: Readonly<Record<string, number>>;
  /** `armKey` → share (0–1) now. */
  readonly weights: Readonly<Record<string, number>>;
  /** Shadow version → share of its predictions in the interval that agreed with the primary's. */
  readonly shadowAgreement: Readonly<Record<string, number>>;
  /** `driftKey` → PSI now. */
  readonly driftPsi: Readonly<Record<string, number>>;
  /** `evaluationKey` → the evaluated metrics now. */
  readonly evaluation: Readonly<Record<string, Partial<Record<EvaluationMetric, number>>>>;
}

/** The figures as they stand, for the page's tables. */
export interface PipelineNow {
  readonly model: string | null;
  /** The version that answered the latest micro-batch. */
  readonly version: string | null;
  readonly totals: {
    readonly events: number;
    readonly predictions: number;
    readonly deadLetters: number;
    readonly microBatches: number;
  };
  readonly lag: readonly { topic: string; partition: string; lag: number }[];
  readonly weights: readonly { segment: string; arm: string; version: string; share: number }[];
  readonly armPredictions: readonly { arm: string; version: string; predictions: number }[];
  /** Automatic rollbacks by arm and the guard-rail check that broke. */
  readonly rollbacks: readonly { arm: string; check: string; count: number }[];
  readonly shadow: readonly {
    version: string;
    agree: number;
    disagree: number;
    /** agree / (agree + disagree); null before the first comparison. */
    agreement: number | null;
    requests: Readonly<Record<string, number>>;
  }[];
  readonly drift: readonly {
    model: string;
    version: string;
    subject: string;
    psi: number | null;
    band: (typeof DRIFT_BANDS)[number] | null;
  }[];
  readonly driftScore: readonly {
    model: string;
    version: string;
    ks: number | null;
    wasserstein: number | null;
  }[];
  /** Drift events emitted; null when the pipeline monitors no drift. */
  readonly driftEvents: number | null;
  readonly evaluation: readonly ({
    model: string;
    version: string;
    arm: string;
  } & Partial<Record<EvaluationMetric, number>>)[];
}

const M = {
  events: "sluice_consumer_events_total",
  predictions: "sluice_consumer_predictions_total",
  deadLetters: "sluice_consumer_dead_letters_total",
  lag: "sluice_consumer_lag",
  latency: "sluice_consumer_end_to_end_latency_seconds",
  batchSize: "sluice_consumer_micro_batch_size",
  modelInfo: "sluice_consumer_model_info",
  weight: "sluice_consumer_rollout_weight",
  armPredictions: "sluice_consumer_rollout_predictions_total",
  rollbacks: "sluice_consumer_rollbacks_total",
  shadowPredictions: "sluice_consumer_shadow_predictions_total",
  shadowRequests: "sluice_consumer_shadow_requests_total",
  driftPsi: "sluice_consumer_drift_psi",
  driftBand: "sluice_consumer_drift_band",
  driftKs: "sluice_consumer_drift_score_ks",
  driftWasserstein: "sluice_consumer_drift_score_wasserstein",
  driftEvents: "sluice_consumer_drift_events_total",
} as const;

const evaluationName = (metric: EvaluationMetric) => `sluice_consumer_evaluation_${metric}`;

/** Every metric a pipeline's status reads, for finding the pipelines of a registry. */
export const STATUS_METRICS: readonly string[] = [
  ...Object.values(M).filter((name) => name !== M.latency && name !== M.batchSize),
  `${M.latency}_count`,
  `${M.batchSize}_count`,
  ...EVALUATION_METRICS.map(evaluationName),
];

/** `v2` for a version number, the label itself (`stable`) for a version label. */
function versionName(version: string): string {
  return /^\d+$/.test(version) ? `v${version}` : version;
}

/** A weight's chart key: the arm and its version, behind its segment unless it is the default. */
export function armKey(segment: string, arm: string, version: string): string {
  return `${segment === "_default" ? "" : `${segment}: `}${arm} (${versionName(version)})`;
}

/** A drift series' chart key: the feature (or `score`) and the model version it watches. */
export function driftKey(subject: string, version: string): string {
  return `${subject} (${versionName(version)})`;
}

/** An evaluation's chart key: the arm and the version it evaluates. */
export function evaluationKey(arm: string, version: string): string {
  return `${arm} (${versionName(version)})`;
}

function label(s: { labels: Readonly<Record<string, string>> }, name: string): string {
  return s.labels[name] ?? "";
}

/** `(later − earlier) / seconds`; null without an earlier figure or when a counter went back. */
function rate(later: number | undefined, earlier: number | undefined, seconds: number) {
  if (later === undefined || earlier === undefined || seconds <= 0) return null;
  const difference = later - earlier;
  return difference < 0 ? null : difference / seconds;
}

/**
 * The sample of `pipeline` for the interval from `previous` (undefined at the first reading) to
 * `current`, `seconds` long.
 */
export function statusSample(
  pipeline: string,
  current: MetricsReading,
  previous: MetricsReading | undefined,
  seconds: number,
  time: number,
): StatusSample {
  const only = { pipeline };
  const counterRate = (name: string) =>
    rate(
      current.sum(name, only) ?? 0,
      previous === undefined ? undefined : (previous.sum(name, only) ?? 0),
      seconds,
    );

  const latencyBuckets = bucketDifference(
    current.buckets(M.latency, only),
    previous?.buckets(M.latency, only),
  );
  const p50 = histogramQuantile(0.5, latencyBuckets);
  const p95 = histogramQuantile(0.95, latencyBuckets);
  const p99 = histogramQuantile(0.99, latencyBuckets);

  const batches =
    (current.sum(`${M.batchSize}_count`, only) ?? 0) -
    (previous?.sum(`${M.batchSize}_count`, only) ?? 0);
  const batchEvents =
    (current.sum(`${M.batchSize}_sum`, only) ?? 0) -
    (previous?.sum(`${M.batchSize}_sum`, only) ?? 0);

  const armPredictionsPerSecond: Record<string, number> = {};
  const armsBefore = previous?.sumBy(M.armPredictions, "arm", only);
  for (const [arm, count] of current.sumBy(M.armPredictions, "arm", only)) {
    const perSecond = rate(
      count,
      armsBefore === undefined ? undefined : (armsBefore.get(arm) ?? 0),
      seconds,
    );
    if (perSecond !== null) armPredictionsPerSecond[arm] = perSecond;
  }

  const weights: Record<string, number> = {};
  for (const s of current.series(M.weight, only)) {
    weights[armKey(label(s, "segment"), label(s, "arm"), label(s, "version"))] = s.value;
  }

  const shadowAgreement: Record<string, number> = {};
  const comparisons = (reading: MetricsReading | undefined, version: string, agreement: string) =>
    reading?.sum(M.shadowPredictions, { pipeline, version, agreement }) ?? 0;
  for (const version of current.sumBy(M.shadowPredictions, "version", only).keys()) {
    const agree = comparisons(current, version, "agree") - comparisons(previous, version, "agree");
    const disagree =
      comparisons(current, version, "disagree") - comparisons(previous, version, "disagree");
    if (agree + disagree > 0) shadowAgreement[version] = agree / (agree + disagree);
  }

  const driftPsi: Record<string, number> = {};
  for (const s of current.series(M.driftPsi, only)) {
    if (Number.isFinite(s.value)) {
      driftPsi[driftKey(label(s, "subject"), label(s, "version"))] = s.value;
    }
  }

  const evaluation: Record<string, Partial<Record<EvaluationMetric, number>>> = {};
  for (const metric of EVALUATION_METRICS) {
    for (const s of current.series(evaluationName(metric), only)) {
      if (!Number.isFinite(s.value)) continue;
      const key = evaluationKey(label(s, "arm"), label(s, "version"));
      (evaluation[key] ??= {})[metric] = s.value;
    }
  }

  return {
    time,
    eventsPerSecond: counterRate(M.events),
    predictionsPerSecond: counterRate(M.predictions),
    deadLettersPerSecond: counterRate(M.deadLetters),
    lag: current.sum(M.lag, only) ?? null,
    latency: p50 === undefined ? null : { p50, p95: p95!, p99: p99! },
    batchSize: batches > 0 ? batchEvents / batches : null,
    armPredictionsPerSecond,
    weights,
    shadowAgreement,
    driftPsi,
    evaluation,
  };
}

const finite = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? null : value;

/** The figures of `pipeline` as they stand in `reading`. */
export function pipelineNow(pipeline: string, reading: MetricsReading): PipelineNow {
  const only = { pipeline };
  const info = reading.series(M.modelInfo, only)[0];
  const modelOf = reading.series(M.predictions, only)[0];

  const shadow = [...reading.sumBy(M.shadowPredictions, "version", only).keys()]
    .concat([...reading.sumBy(M.shadowRequests, "version", only).keys()])
    .filter((version, i, all) => all.indexOf(version) === i)
    .sort()
    .map((version) => {
      const agree =
        reading.sum(M.shadowPredictions, { pipeline, version, agreement: "agree" }) ?? 0;
      const disagree =
        reading.sum(M.shadowPredictions, { pipeline, version, agreement: "disagree" }) ?? 0;
      return {
        version,
        agree,
        disagree,
        agreement: agree + disagree > 0 ? agree / (agree + disagree) : null,
        requests: Object.fromEntries(
          reading.sumBy(M.shadowRequests, "outcome", { pipeline, version }),
        ),
      };
    });

  const drift = reading.series(M.driftPsi, only).map((s) => {
    const band = reading.sum(M.driftBand, {
      pipeline,
      model: label(s, "model"),
      version: label(s, "version"),
      subject: label(s, "subject"),
    });
    return {
      model: label(s, "model"),
      version: label(s, "version"),
      subject: label(s, "subject"),
      psi: finite(s.value),
      band: band === undefined ? null : (DRIFT_BANDS[band] ?? null),
    };
  });
  const scoreSeries = [
    ...reading.series(M.driftKs, only),
    ...reading.series(M.driftWasserstein, only),
  ];
  const driftScore = scoreSeries
    .map((s) => `${label(s, "model")}\n${label(s, "version")}`)
    .filter((key, i, all) => all.indexOf(key) === i)
    .map((key) => {
      const [model = "", version = ""] = key.split("\n");
      const of = { pipeline, model, version };
      return {
        model,
        version,
        ks: finite(reading.sum(M.driftKs, of)),
        wasserstein: finite(reading.sum(M.driftWasserstein, of)),
      };
    });

  const evaluations = new Map<string, PipelineNow["evaluation"][number]>();
  for (const metric of EVALUATION_METRICS) {
    for (const s of reading.series(evaluationName(metric), only)) {
      const key = [label(s, "model"), label(s, "version"), label(s, "arm")].join("\n");
      let row = evaluations.get(key);
      if (row === undefined) {
        row = { model: label(s, "model"), version: label(s, "version"), arm: label(s, "arm") };
        evaluations.set(key, row);
      }
      const value = finite(s.value);
      if (value !== null) (row as Partial<Record<EvaluationMetric, number>>)[metric] = value;
    }
  }

  return {
    model:
      info !== undefined
        ? label(info, "model")
        : modelOf !== undefined
          ? label(modelOf, "model")
          : null,
    version: info !== undefined ? label(info, "version") : null,
    totals: {
      events: reading.sum(M.events, only) ?? 0,
      predictions: reading.sum(M.predictions, only) ?? 0,
      deadLetters: reading.sum(M.deadLetters, only) ?? 0,
      microBatches: reading.sum(`${M.batchSize}_count`, only) ?? 0,
    },
    lag: reading.series(M.lag, only).map((s) => ({
      topic: label(s, "topic"),
      partition: label(s, "partition"),
      lag: s.value,
    })),
    weights: reading.series(M.weight, only).map((s) => ({
      segment: label(s, "segment"),
      arm: label(s, "arm"),
      version: label(s, "version"),
      share: s.value,
    })),
    armPredictions: reading.series(M.armPredictions, only).map((s) => ({
      arm: label(s, "arm"),
      version: label(s, "version"),
      predictions: s.value,
    })),
    rollbacks: reading.series(M.rollbacks, only).map((s) => ({
      arm: label(s, "arm"),
      check: label(s, "check"),
      count: s.value,
    })),
    shadow,
    drift,
    driftScore,
    driftEvents: reading.sum(M.driftEvents, only) ?? null,
    evaluation: [...evaluations.values()],
  };
}
