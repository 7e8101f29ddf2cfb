/**
 * Prometheus metrics of the Kafka consumers, in a registry of their own (several pipelines and a
 * sidecar can share a process in tests). Names and labels are documented in docs/metrics.md.
 *
 * Labels are bounded by the deployment, never by the data: the pipeline's name and topics, the
 * partitions it owns, the model versions the sidecar answered with, stage names and error codes.
 * The hot path observes once per micro-batch, except the per-event histograms (end-to-end
 * latency, score, confidence), which are `EventHistogram`s bound once per label set. Lag and the
 * other gauges are read from the pipelines at scrape time, so they cannot drift.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { EventHistogram, type HistogramSeries } from "./event-histogram.js";
import { serveMetrics, type MetricsServer } from "@sluice/kit";

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

export const STAGES = ["decode", "features", "inference", "produce", "commit"] as const;
export type Stage = (typeof STAGES)[number];

/** Seconds a delivered micro-batch spent in each stage; `commit` is undefined when the produce step committed (a transaction). */
export type StageSeconds = Readonly<Record<Exclude<Stage, "commit">, number>> & {
  readonly commit: number | undefined;
};

/** The predictions of one model version in a micro-batch. */
export interface VersionScores {
  readonly predictions: number;
  readonly reviews: number;
  readonly scores: readonly number[];
  readonly confidences: readonly number[];
}

/** A micro-batch whose records are acknowledged and whose offset is committed. */
export interface DeliveredBatch {
  /** The input records: their Kafka timestamps start the end-to-end latency. */
  readonly records: readonly { readonly timestamp: string }[];
  /** Dead letters by error code. */
  readonly deadLetters: Readonly<Partial<Record<string, number>>>;
  /** By the model version that answered. */
  readonly versions: ReadonlyMap<string, VersionScores>;
  readonly stages: StageSeconds;
}

/** What a pipeline's metrics are labelled with. */
export interface PipelineIdentity {
  /** The pipeline file's `name`. */
  readonly pipeline: string;
  readonly model: string;
  readonly topics: {
    readonly input: string;
    readonly output: string;
    readonly deadLetter: string;
    readonly review: string | undefined;
  };
}

export interface ConsumerMetricsOptions {
  /**
   * Adds Node.js process metrics (`sluice_process_*`). They describe the process, not a
   * pipeline, so the one serving `/metrics` asks for them once. @default false
   */
  readonly processMetrics?: boolean;
}

export class ConsumerMetrics {
  readonly registry = new Registry();
  readonly events = new Counter({
    name: "sluice_consumer_events_total",
    help: "Input events processed and committed (each became a prediction or a dead letter)",
    labelNames: ["pipeline", "topic"] as const,
    registers: [this.registry],
  });
  readonly produced = new Counter({
    name: "sluice_consumer_records_produced_total",
    help: "Records acknowledged on the output, review and dead-letter topics",
    labelNames: ["pipeline", "topic"] as const,
    registers: [this.registry],
  });
  readonly predictions = new Counter({
    name: "sluice_consumer_predictions_total",
    help: "Predictions published to the output topic",
    labelNames: ["pipeline", "model", "version"] as const,
    registers: [this.registry],
  });
  readonly reviews = new Counter({
    name: "sluice_consumer_reviews_total",
    help: "Predictions also sent to the review topic for their low confidence",
    labelNames: ["pipeline", "model", "version"] as const,
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: "sluice_consumer_dead_letters_total",
    help: "Events sent to the dead-letter topic, by error code",
    labelNames: ["pipeline", "code"] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "sluice_consumer_retries_total",
    help: "Micro-batches that failed retryably and were scheduled again, by error code",
    labelNames: ["pipeline", "code"] as const,
    registers: [this.registry],
  });
  readonly rebalances = new Counter({
    name: "sluice_consumer_rebalances_total",
    help: "Consumer group (re)joins this member went through",
    labelNames: ["pipeline"] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: "sluice_consumer_micro_batch_size",
    help: "Events per delivered micro-batch",
    labelNames: ["pipeline"] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly stageDuration = new Histogram({
    name: "sluice_consumer_stage_duration_seconds",
    help: "Time a delivered micro-batch spent in each stage",
    labelNames: ["pipeline", "stage"] as const,
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });
  readonly latency = new EventHistogram({
    name: "sluice_consumer_end_to_end_latency_seconds",
    help: "Per event: its Kafka timestamp to its prediction (or dead letter) acknowledged and committed",
    labelNames: ["pipeline"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly score = new EventHistogram({
    name: "sluice_consumer_prediction_score",
    help: "Per prediction: its score, P(class 1) for a binary model",
    labelNames: ["pipeline", "model", "version"] as const,
    buckets: SCORE_BUCKETS,
    registers: [this.registry],
  });
  readonly confidence = new EventHistogram({
    name: "sluice_consumer_prediction_confidence",
    help: "Per prediction: its confidence, the largest class probability",
    labelNames: ["pipeline", "model", "version"] as const,
    buckets: CONFIDENCE_BUCKETS,
    registers: [this.registry],
  });
  readonly lag: Gauge<"pipeline" | "topic" | "partition">;
  readonly assignedPartitions: Gauge<"pipeline" | "topic">;
  readonly modelInfo: Gauge<"pipeline" | "model" | "version">;
  readonly #pipelines = new Set<PipelineMetrics>();

  constructor(options: ConsumerMetricsOptions = {}) {
    if (options.processMetrics === true) {
      collectDefaultMetrics({ register: this.registry, prefix: "sluice_process_" });
    }
    const pipelines = this.#pipelines;
    this.lag = new Gauge({
      name: "sluice_consumer_lag",
      help: "Records behind per owned partition: the latest fetch's high watermark minus the next offset to process",
      labelNames: ["pipeline", "topic", "partition"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of pipelines) {
          for (const [topic, partitions] of p.lag) {
            for (const [partition, lag] of partitions) {
              this.set({ pipeline: p.name, topic, partition: String(partition) }, lag);
            }
          }
        }
      },
    });
    this.assignedPartitions = new Gauge({
      name: "sluice_consumer_assigned_partitions",
      help: "Input partitions this member owns",
      labelNames: ["pipeline", "topic"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of pipelines) {
          for (const [topic, owned] of p.assignment ?? []) {
            this.set({ pipeline: p.name, topic }, owned.size);
          }
        }
      },
    });
    this.modelInfo = new Gauge({
      name: "sluice_consumer_model_info",
      help: "1 for the model version that answered the latest micro-batch",
      labelNames: ["pipeline", "model", "version"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of pipelines) {
          if (p.version !== undefined) {
            this.set({ pipeline: p.name, model: p.model, version: p.version }, 1);
          }
        }
      },
    });
  }

  /** The metrics of one pipeline, with its labels bound; its gauges show until `stopped()`. */
  forPipeline(identity: PipelineIdentity, now: () => number = Date.now): PipelineMetrics {
    const pipeline = new PipelineMetrics(this, identity, now, (p) => this.#pipelines.delete(p));
    this.#pipelines.add(pipeline);
    return pipeline;
  }

  /** Serves `/metrics` on host:port with kit's metrics server; port 0 picks a free one. */
  listen(host: string, port: number): Promise<MetricsServer> {
    return serveMetrics(this.registry, host, port);
  }
}

interface VersionSeries {
  readonly predictions: Counter.Internal;
  readonly reviews: Counter.Internal;
  readonly score: HistogramSeries;
  readonly confidence: HistogramSeries;
}

/** One pipeline's series. The partition handler calls it; nothing here throws. */
export class PipelineMetrics {
  /** The registry these series are in (shared with the other pipelines of the same ConsumerMetrics). */
  readonly registry: Registry;
  readonly name: string;
  readonly model: string;
  /** topic → partition → records behind. */
  readonly lag = new Map<string, Map<number, number>>();
  /** topic → partitions owned; undefined until the first assignment. */
  assignment: ReadonlyMap<string, ReadonlySet<number>> | undefined;
  /** The version that answered the latest micro-batch. */
  version: string | undefined;
  readonly #metrics: ConsumerMetrics;
  readonly #identity: PipelineIdentity;
  readonly #now: () => number;
  readonly #release: (self: PipelineMetrics) => void;
  readonly #events: Counter.Internal;
  readonly #produced: {
    readonly output: Counter.Internal;
    readonly deadLetter: Counter.Internal;
    readonly review: Counter.Internal | undefined;
  };
  readonly #batchSize: Histogram.Internal<"pipeline">;
  readonly #stages: Record<Stage, Histogram.Internal<"pipeline" | "stage">>;
  readonly #latency: HistogramSeries;
  readonly #versions = new Map<string, VersionSeries>();

  constructor(
    metrics: ConsumerMetrics,
    identity: PipelineIdentity,
    now: () => number,
    release: (self: PipelineMetrics) => void,
  ) {
    const pipeline = identity.pipeline;
    const { topics } = identity;
    this.registry = metrics.registry;
    this.name = pipeline;
    this.model = identity.model;
    this.#metrics = metrics;
    this.#identity = identity;
    this.#now = now;
    this.#release = release;
    this.#events = metrics.events.labels({ pipeline, topic: topics.input });
    this.#produced = {
      output: metrics.produced.labels({ pipeline, topic: topics.output }),
      deadLetter: metrics.produced.labels({ pipeline, topic: topics.deadLetter }),
      review:
        topics.review === undefined
          ? undefined
          : metrics.produced.labels({ pipeline, topic: topics.review }),
    };
    this.#batchSize = metrics.batchSize.labels({ pipeline });
    this.#stages = {
      decode: metrics.stageDuration.labels({ pipeline, stage: "decode" }),
      features: metrics.stageDuration.labels({ pipeline, stage: "features" }),
      inference: metrics.stageDuration.labels({ pipeline, stage: "inference" }),
      produce: metrics.stageDuration.labels({ pipeline, stage: "produce" }),
      commit: metrics.stageDuration.labels({ pipeline, stage: "commit" }),
    };
    this.#latency = metrics.latency.series({ pipeline });
    // Counters start at 0, so `rate()` and `increase()` see the first increment.
    this.#events.inc(0);
    metrics.rebalances.labels({ pipeline }).inc(0);
  }

  /** A partition's records arrived, from `firstOffset`; `highWatermark` came with them. */
  fetched(topic: string, partition: number, highWatermark: string, firstOffset: string): void {
    this.#setLag(topic, partition, Number(highWatermark) - Number(firstOffset));
  }

  /** The records of a partition up to `lastOffset` are done (delivered and committed). */
  resolved(topic: string, partition: number, highWatermark: string, lastOffset: string): void {
    this.#setLag(topic, partition, Number(highWatermark) - Number(lastOffset) - 1);
  }

  /** A micro-batch's outputs are acknowledged and its offset committed. */
  delivered(batch: DeliveredBatch): void {
    const { records, stages } = batch;
    this.#events.inc(records.length);
    this.#batchSize.observe(records.length);
    this.#stages.decode.observe(stages.decode);
    this.#stages.features.observe(stages.features);
    this.#stages.inference.observe(stages.inference);
    this.#stages.produce.observe(stages.produce);
    if (stages.commit !== undefined) this.#stages.commit.observe(stages.commit);

    const now = this.#now();
    const latency = this.#latency;
    for (let i = 0; i < records.length; i++) {
      latency.observe((now - Number(records[i]!.timestamp)) / 1000);
    }

    let predictions = 0;
    let reviews = 0;
    for (const [version, outcome] of batch.versions) {
      const series = this.#version(version);
      if (outcome.predictions > 0) series.predictions.inc(outcome.predictions);
      if (outcome.reviews > 0) series.reviews.inc(outcome.reviews);
      for (const score of outcome.scores) series.score.observe(score);
      for (const confidence of outcome.confidences) series.confidence.observe(confidence);
      predictions += outcome.predictions;
      reviews += outcome.reviews;
      this.version = version;
    }
    let deadLetters = 0;
    for (const code in batch.deadLetters) {
      const count = batch.deadLetters[code] ?? 0;
      this.#metrics.deadLetters.inc({ pipeline: this.name, code }, count);
      deadLetters += count;
    }
    if (predictions > 0) this.#produced.output.inc(predictions);
    if (reviews > 0) this.#produced.review?.inc(reviews);
    if (deadLetters > 0) this.#produced.deadLetter.inc(deadLetters);
  }

  /** A micro-batch failed retryably with `code` and will be processed again. */
  retried(code: string): void {
    this.#metrics.retries.inc({ pipeline: this.name, code });
  }

  /** The group was (re)joined and this member owns `partitions` now. */
  assigned(partitions: readonly { topic: string; partition: number }[]): void {
    this.#metrics.rebalances.inc({ pipeline: this.name });
    const owned = new Map<string, Set<number>>();
    for (const { topic, partition } of partitions) {
      let set = owned.get(topic);
      if (set === undefined) owned.set(topic, (set = new Set()));
      set.add(partition);
    }
    this.assignment = owned;
    // Another member reports the partitions it took over; keeping them here would count them twice.
    for (const [topic, lags] of this.lag) {
      const keep = owned.get(topic);
      for (const partition of lags.keys())
        if (keep?.has(partition) !== true) lags.delete(partition);
      if (lags.size === 0) this.lag.delete(topic);
    }
  }

  /** The pipeline stopped: it owns nothing, its gauges go; its counters stay. */
  stopped(): void {
    this.lag.clear();
    this.assignment = new Map();
    this.version = undefined;
    this.#release(this);
  }

  /** Offsets stay below 2^53 in practice (a million events a second for 285 years): Number is exact. */
  #setLag(topic: string, partition: number, lag: number): void {
    // A micro-batch that finishes after its partition moved away must not bring the series back.
    if (this.assignment !== undefined && this.assignment.get(topic)?.has(partition) !== true)
      return;
    let partitions = this.lag.get(topic);
    if (partitions === undefined) this.lag.set(topic, (partitions = new Map<number, number>()));
    partitions.set(partition, Math.max(0, lag));
  }

  #version(version: string): VersionSeries {
    let series = this.#versions.get(version);
    if (series === undefined) {
      const labels = { pipeline: this.name, model: this.#identity.model, version };
      series = {
        predictions: this.#metrics.predictions.labels(labels),
        reviews: this.#metrics.reviews.labels(labels),
        score: this.#metrics.score.series(labels),
        confidence: this.#metrics.confidence.series(labels),
      };
      this.#versions.set(version, series);
    }
    return series;
  }
}
