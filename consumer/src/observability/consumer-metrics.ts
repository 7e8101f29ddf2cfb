/**
 * Prometheus metrics of the Kafka consumers, in a registry of their own (several pipelines and a
 * sidecar can share a process in tests). Names and labels are documented in docs/metrics.md.
 *
 * Labels are bounded by the deployment, never by the data: the pipeline's name and topics, the
 * partitions it owns, the model versions the sidecar answered with, stage names and error codes.
 * Counters and gauges are read from the pipelines' own counts and state at scrape time
 * (`PipelineMetrics`), so they cannot drift from what `pipeline.stats` says; the hot path adds to
 * plain numbers and observes the histograms once per micro-batch, except the per-event ones
 * (end-to-end latency, score, confidence), which are `EventHistogram`s bound once per label set.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { serveMetrics, type MetricsServer } from "@sluice/kit";
import { EventHistogram } from "./event-histogram.js";
import { PipelineMetrics, type PipelineIdentity } from "./pipeline-metrics.js";
import { bandValue } from "./monitoring-metrics.js";
import { StatusHistory, statusRoutes, type StatusHistoryOptions } from "./status/index.js";
import { splitKey } from "./rollout-metrics.js";

/** Seconds; from 100 µs (decoding a small batch) to 10 s (a sidecar or broker in trouble). */
const STAGE_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
/** Events per micro-batch, powers of two up to the largest `batch.max_events` that makes sense. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/**
 * Seconds from an event's Kafka timestamp to its prediction committed: tens of milliseconds when
 * the consumer keeps up, minutes when it catches up on a backlog.
 */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Scores crowd at both ends for a good classifier: finer buckets there. */
const SCORE_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1,
];
/** Confidence is at least 1/classes; 0.6 is the default review threshold, so it is a bound. */
const CONFIDENCE_BUCKETS = [
  0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1,
];

/** Shadow − primary score: most differences are small, so the buckets are finer near 0. */
const SCORE_DIFFERENCE_BUCKETS = [
  -1, -0.5, -0.25, -0.1, -0.05, -0.02, -0.01, -0.001, 0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1,
];

export interface ConsumerMetricsOptions {
  /**
   * Adds Node.js process metrics (`sluice_process_*`). They describe the process, not a
   * pipeline, so the one serving `/metrics` asks for them once. @default false
   */
  readonly processMetrics?: boolean;
}

type Labels<L extends string> = Partial<Record<L, string>>;

export class ConsumerMetrics {
  readonly registry = new Registry();
  readonly batchSize: Histogram<"pipeline">;
  readonly stageDuration: Histogram<"pipeline" | "stage">;
  readonly latency: EventHistogram<"pipeline">;
  readonly score: EventHistogram<"pipeline" | "model" | "version">;
  readonly confidence: EventHistogram<"pipeline" | "model" | "version">;
  readonly shadowDifference: EventHistogram<"pipeline" | "version">;
  /** Every pipeline made here, stopped ones included: their counters stay. */
  readonly #pipelines = new Set<PipelineMetrics>();
  /** The running ones: only they have lag, partitions and a model version to show. */
  readonly #running = new Set<PipelineMetrics>();

  constructor(options: ConsumerMetricsOptions = {}) {
    // Registration order is the order of /metrics: counters, histograms, process, gauges, as before
    // the counters were read from the pipelines' counts.
    // Counters start at 0 (events, rebalances), so `rate()` and `increase()` see the first increment.
    this.#counter(
      "sluice_consumer_events_total",
      "Input events processed and committed (each became a prediction or a dead letter)",
      ["pipeline", "topic"],
      (p, add) => add({ pipeline: p.name, topic: p.topics.input }, p.counts.events),
    );
    this.#counter(
      "sluice_consumer_records_produced_total",
      "Records acknowledged on the output, review and dead-letter topics",
      ["pipeline", "topic"],
      (p, add) => {
        const { predictions, reviews, deadLetters } = p.stats;
        const dead = Object.values(deadLetters).reduce((total, count) => total + count, 0);
        const { output, review, deadLetter } = p.topics;
        if (predictions > 0) add({ pipeline: p.name, topic: output }, predictions);
        if (reviews > 0 && review !== undefined) add({ pipeline: p.name, topic: review }, reviews);
        if (dead > 0) add({ pipeline: p.name, topic: deadLetter }, dead);
      },
    );
    this.#counter(
      "sluice_consumer_predictions_total",
      "Predictions published to the output topic",
      ["pipeline", "model", "version"],
      (p, add) => {
        for (const [version, { predictions }] of p.counts.versions) {
          if (predictions > 0) add({ pipeline: p.name, model: p.model, version }, predictions);
        }
      },
    );
    this.#counter(
      "sluice_consumer_reviews_total",
      "Predictions also sent to the review topic for their low confidence",
      ["pipeline", "model", "version"],
      (p, add) => {
        for (const [version, { reviews }] of p.counts.versions) {
          if (reviews > 0) add({ pipeline: p.name, model: p.model, version }, reviews);
        }
      },
    );
    this.#counter(
      "sluice_consumer_dead_letters_total",
      "Events sent to the dead-letter topic, by error code",
      ["pipeline", "code"],
      (p, add) => {
        for (const [code, count] of p.counts.deadLetters) add({ pipeline: p.name, code }, count);
      },
    );
    this.#counter(
      "sluice_consumer_lookup_misses_total",
      "Events whose lookup found no record or field, by feature; each lookup's `missing` policy says what they got",
      ["pipeline", "feature"],
      (p, add) => {
        for (const [feature, count] of p.counts.lookupMisses) {
          add({ pipeline: p.name, feature }, count);
        }
      },
    );
    this.#counter(
      "sluice_consumer_retries_total",
      "Micro-batches that failed retryably and were scheduled again, by error code",
      ["pipeline", "code"],
      (p, add) => {
        for (const [code, count] of p.counts.retries) add({ pipeline: p.name, code }, count);
      },
    );
    this.#counter(
      "sluice_consumer_rebalances_total",
      "Consumer group (re)joins this member went through",
      ["pipeline"],
      (p, add) => add({ pipeline: p.name }, p.counts.rebalances),
    );
    this.batchSize = new Histogram({
      name: "sluice_consumer_micro_batch_size",
      help: "Events per delivered micro-batch",
      labelNames: ["pipeline"] as const,
      buckets: BATCH_BUCKETS,
      registers: [this.registry],
    });
    this.stageDuration = new Histogram({
      name: "sluice_consumer_stage_duration_seconds",
      help: "Time a delivered micro-batch spent in each stage",
      labelNames: ["pipeline", "stage"] as const,
      buckets: STAGE_BUCKETS,
      registers: [this.registry],
    });
    this.latency = new EventHistogram({
      name: "sluice_consumer_end_to_end_latency_seconds",
      help: "Per event: its Kafka timestamp to its prediction (or dead letter) acknowledged and committed",
      labelNames: ["pipeline"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.score = new EventHistogram({
      name: "sluice_consumer_prediction_score",
      help: "Per prediction: its score, P(class 1) for a binary model",
      labelNames: ["pipeline", "model", "version"] as const,
      buckets: SCORE_BUCKETS,
      registers: [this.registry],
    });
    this.confidence = new EventHistogram({
      name: "sluice_consumer_prediction_confidence",
      help: "Per prediction: its confidence, the largest class probability",
      labelNames: ["pipeline", "model", "version"] as const,
      buckets: CONFIDENCE_BUCKETS,
      registers: [this.registry],
    });
    this.shadowDifference = new EventHistogram({
      name: "sluice_consumer_shadow_score_difference",
      help: "Per shadowed event: the shadow version's score minus the primary's",
      labelNames: ["pipeline", "version"] as const,
      buckets: SCORE_DIFFERENCE_BUCKETS,
      registers: [this.registry],
    });
    this.#rolloutSeries();
    this.#monitoringSeries();
    if (options.processMetrics === true) {
      collectDefaultMetrics({ register: this.registry, prefix: "sluice_process_" });
    }
    this.#gauge(
      "sluice_consumer_lag",
      "Records behind per owned partition: the latest fetch's high watermark minus the next offset to process",
      ["pipeline", "topic", "partition"],
      (p, add) => {
        for (const [topic, partitions] of p.lag) {
          for (const [partition, lag] of partitions) {
            add({ pipeline: p.name, topic, partition: String(partition) }, lag);
          }
        }
      },
    );
    this.#gauge(
      "sluice_consumer_assigned_partitions",
      "Input partitions this member owns",
      ["pipeline", "topic"],
      (p, add) => {
        for (const [topic, owned] of p.assignment ?? []) {
          add({ pipeline: p.name, topic }, owned.size);
        }
      },
    );
    this.#gauge(
      "sluice_consumer_feature_state_entities",
      "Entities whose window state this member holds in memory (bounded by redis.max_cached_entities)",
      ["pipeline"],
      (p, add) => {
        const held = p.featureState?.();
        if (held !== undefined) add({ pipeline: p.name }, held.entities);
      },
    );
    this.#gauge(
      "sluice_consumer_feature_state_bytes",
      "Estimated memory of the window state this member holds (bounded by redis.max_cached_mb)",
      ["pipeline"],
      (p, add) => {
        const held = p.featureState?.();
        if (held !== undefined) add({ pipeline: p.name }, held.bytes);
      },
    );
    this.#gauge(
      "sluice_consumer_model_info",
      "1 for the model version that answered the latest micro-batch",
      ["pipeline", "model", "version"],
      (p, add) => {
        if (p.version === undefined) return;
        add({ pipeline: p.name, model: p.model, version: p.version }, 1);
      },
    );
  }

  /** The series of pipelines with a `rollout:` section (docs/metrics.md, "Model lifecycle"). */
  #rolloutSeries(): void {
    this.#counter(
      "sluice_consumer_rollout_predictions_total",
      "Predictions published by each rollout arm, by the version that answered",
      ["pipeline", "arm", "version"],
      (p, add) => {
        for (const [arm, versions] of p.rollout?.predictions ?? []) {
          for (const [version, n] of versions) add({ pipeline: p.name, arm, version }, n);
        }
      },
    );
    this.#counter(
      "sluice_consumer_shadow_requests_total",
      "Shadow ModelInfer calls by outcome (success, failure, deadline_exceeded); never retried",
      ["pipeline", "version", "outcome"],
      (p, add) => {
        for (const [key, n] of p.rollout?.shadowRequests ?? []) {
          const [version, outcome] = splitKey(key);
          add({ pipeline: p.name, version, outcome }, n);
        }
      },
    );
    this.#counter(
      "sluice_consumer_shadow_predictions_total",
      "Shadow predictions compared with the primary's, by agreement on the label",
      ["pipeline", "version", "agreement"],
      (p, add) => {
        for (const [key, n] of p.rollout?.shadowPredictions ?? []) {
          const [version, agreement] = splitKey(key);
          add({ pipeline: p.name, version, agreement }, n);
        }
      },
    );
    this.#counter(
      "sluice_consumer_rollbacks_total",
      "Automatic rollbacks of a rollout arm, one per guard-rail check that broke",
      ["pipeline", "arm", "check"],
      (p, add) => {
        for (const [key, n] of p.rollout?.rollbacks ?? []) {
          const [arm, check] = splitKey(key);
          add({ pipeline: p.name, arm, check }, n);
        }
      },
    );
    this.#gauge(
      "sluice_consumer_rollout_weight",
      "Share of entities (0-1) each rollout arm holds now, after rollbacks and commands",
      ["pipeline", "segment", "arm", "version"],
      (p, add) => {
        for (const w of p.rollout?.weights() ?? []) {
          add({ pipeline: p.name, segment: w.segment, arm: w.arm, version: w.version }, w.share);
        }
      },
    );
    const guardRail = (
      name: string,
      help: string,
      read: (f: {
        errorRatio: number;
        latencySeconds: number;
        scorePsi: number;
        scoreKs: number;
      }) => number,
    ) =>
      this.#gauge(name, help, ["pipeline", "arm"], (p, add) => {
        for (const [arm, figures] of p.rollout?.guardRails ?? []) {
          const value = read(figures);
          if (!Number.isNaN(value)) add({ pipeline: p.name, arm }, value);
        }
      });
    guardRail(
      "sluice_consumer_guard_rail_error_ratio",
      "Failed rows / rows of the arm over the guard-rail window",
      (f) => f.errorRatio,
    );
    guardRail(
      "sluice_consumer_guard_rail_latency_seconds",
      "The configured latency percentile of the arm's calls over the guard-rail window",
      (f) => f.latencySeconds,
    );
    guardRail(
      "sluice_consumer_guard_rail_score_psi",
      "PSI of the judged arm's scores against the primary's",
      (f) => f.scorePsi,
    );
    guardRail(
      "sluice_consumer_guard_rail_score_ks",
      "Kolmogorov-Smirnov distance of the judged arm's scores from the primary's",
      (f) => f.scoreKs,
    );
  }

  /** The series of pipelines with a `monitoring:` section (docs/monitoring.md). */
  #monitoringSeries(): void {
    this.#counter(
      "sluice_consumer_drift_events_total",
      "Drift events: a feature's or the score's PSI band changed, by the band it moved to",
      ["pipeline", "model", "version", "band"],
      (p, add) => {
        for (const [key, n] of p.monitoring?.driftEvents ?? []) {
          const [version, band] = splitKey(key);
          add({ pipeline: p.name, model: p.model, version, band }, n);
        }
      },
    );
    this.#counter(
      "sluice_consumer_labels_total",
      "Label-join outcomes of labels and recorded predictions: joined, waiting, duplicate, invalid",
      ["pipeline", "outcome"],
      (p, add) => {
        for (const [outcome, n] of p.monitoring?.labels ?? [])
          add({ pipeline: p.name, outcome }, n);
      },
    );
    this.#counter(
      "sluice_consumer_retraining_events_total",
      "Retraining events emitted (a condition held for its time, outside the cooldown)",
      ["pipeline", "model"],
      (p, add) => {
        const m = p.monitoring;
        if (m !== undefined) add({ pipeline: p.name, model: p.model }, m.retrainingEvents);
      },
    );
    this.#gauge(
      "sluice_consumer_drift_psi",
      "PSI of a feature's or the score's distribution over the drift window against the version's reference",
      ["pipeline", "model", "version", "subject"],
      (p, add) => {
        for (const [version, report] of p.monitoring?.drift ?? []) {
          const subjects =
            report.score === undefined ? report.features : [...report.features, report.score];
          for (const s of subjects) {
            add({ pipeline: p.name, model: p.model, version, subject: s.subject }, s.psi);
          }
        }
      },
    );
    this.#gauge(
      "sluice_consumer_drift_band",
      "PSI band of a feature or the score, with hysteresis: 0 stable, 1 moderate, 2 major (absent until judged)",
      ["pipeline", "model", "version", "subject"],
      (p, add) => {
        for (const [version, report] of p.monitoring?.drift ?? []) {
          const subjects =
            report.score === undefined ? report.features : [...report.features, report.score];
          for (const s of subjects) {
            const band = bandValue(s.state);
            if (band !== undefined) {
              add({ pipeline: p.name, model: p.model, version, subject: s.subject }, band);
            }
          }
        }
      },
    );
    const scoreDistance = (name: string, help: string, which: "ks" | "wasserstein") =>
      this.#gauge(name, help, ["pipeline", "model", "version"], (p, add) => {
        for (const [version, report] of p.monitoring?.drift ?? []) {
          const distance = report.score?.[which];
          if (distance !== undefined && !Number.isNaN(distance.value)) {
            add({ pipeline: p.name, model: p.model, version }, distance.value);
          }
        }
      });
    scoreDistance(
      "sluice_consumer_drift_score_ks",
      "Kolmogorov-Smirnov distance of the score over the drift window from the reference (read at percentile edges)",
      "ks",
    );
    scoreDistance(
      "sluice_consumer_drift_score_wasserstein",
      "Wasserstein-1 distance of the score over the drift window from the reference",
      "wasserstein",
    );
    const evaluation = (
      name: string,
      help: string,
      read: (f: {
        precision: number;
        recall: number;
        rocAuc: number;
        logLoss: number;
        brier: number;
        labels: number;
      }) => number,
    ) =>
      this.#gauge(name, help, ["pipeline", "model", "version", "arm"], (p, add) => {
        for (const figures of p.monitoring?.evaluation.values() ?? []) {
          const value = read(figures);
          if (!Number.isNaN(value)) {
            const { version, arm } = figures;
            add({ pipeline: p.name, model: p.model, version, arm }, value);
          }
        }
      });
    evaluation(
      "sluice_consumer_evaluation_precision",
      "Precision at the version's threshold over the evaluation window of labelled predictions",
      (f) => f.precision,
    );
    evaluation(
      "sluice_consumer_evaluation_recall",
      "Recall at the version's threshold over the evaluation window of labelled predictions",
      (f) => f.recall,
    );
    evaluation(
      "sluice_consumer_evaluation_roc_auc",
      "ROC AUC over the evaluation window (400 logit bins; exact within the documented bound)",
      (f) => f.rocAuc,
    );
    evaluation(
      "sluice_consumer_evaluation_log_loss",
      "Mean log loss over the evaluation window",
      (f) => f.logLoss,
    );
    evaluation(
      "sluice_consumer_evaluation_brier",
      "Mean Brier score over the evaluation window",
      (f) => f.brier,
    );
    evaluation(
      "sluice_consumer_evaluation_labels",
      "Labelled predictions (prediction and label pairs) in the evaluation window",
      (f) => f.labels,
    );
  }

  /** The observer of one pipeline, with its labels bound; its gauges show until `stopped()`. */
  forPipeline(identity: PipelineIdentity, now: () => number = Date.now): PipelineMetrics {
    const pipeline = new PipelineMetrics(this, identity, now, (p) => this.#running.delete(p));
    this.#pipelines.add(pipeline);
    this.#running.add(pipeline);
    return pipeline;
  }

  /**
   * Serves `/metrics` on host:port with kit's metrics server, and beside it the status page
   * (`/`, `/status.json`), whose history is sampled from this registry until `close()`; port 0
   * picks a free one.
   */
  async listen(
    host: string,
    port: number,
    status: StatusHistoryOptions = {},
  ): Promise<MetricsServer> {
    const history = new StatusHistory(this.registry, status);
    const server = await serveMetrics(this.registry, host, port, await statusRoutes(history));
    history.start();
    return {
      port: server.port,
      close() {
        history.stop();
        return server.close();
      },
    };
  }

  /** A counter rendered at scrape time from every pipeline's counts, stopped ones included. */
  #counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: Reader<L>,
  ) {
    new Counter<L>(collected({ name, help, labelNames }, this.registry, this.#pipelines, read));
  }

  /** A gauge rendered at scrape time from the running pipelines' state. */
  #gauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: Reader<L>) {
    new Gauge<L>(collected({ name, help, labelNames }, this.registry, this.#running, read));
  }
}

/** Reads what one pipeline contributes to a metric: `add(labels, value)` per series. */
type Reader<L extends string> = (
  pipeline: PipelineMetrics,
  add: (labels: Labels<L>, value: number) => void,
) => void;

/**
 * The options of a counter or gauge whose values are read from `pipelines` at each scrape: reset,
 * then every pipeline adds its series (two pipelines of one name add up, as increments would).
 */
function collected<L extends string>(
  metric: { name: string; help: string; labelNames: readonly L[] },
  registry: Registry,
  pipelines: ReadonlySet<PipelineMetrics>,
  read: Reader<L>,
) {
  return {
    ...metric,
    registers: [registry],
    collect(this: Counter<L> | Gauge<L>) {
      this.reset();
      // A gauge's inc after its reset is a set; the cast only picks one of two equal signatures.
      const add = (labels: Labels<L>, value: number) => (this as Counter<L>).inc(labels, value);
      for (const pipeline of pipelines) read(pipeline, add);
    },
  };
}
