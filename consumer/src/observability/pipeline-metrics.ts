/**
 * One pipeline's observer on Prometheus. It keeps the pipeline's counts (events, predictions and
 * reviews by model version, dead letters and retries by code, lookup misses by feature,
 * rebalances) as plain numbers: the
 * counters of `/metrics` are rendered from them at scrape time, and `stats` is read from them, so
 * the CLI's progress line and the endpoint can never disagree. Distributions (stage times,
 * micro-batch sizes, end-to-end latency, scores) go to histograms as they are observed.
 */
import type { Histogram, Registry } from "prom-client";
import type { EventHistogram, HistogramSeries } from "./event-histogram.js";
import type { MonitoringMetrics } from "./monitoring-metrics.js";
import type { RolloutMetrics } from "./rollout-metrics.js";
import type {
  DeliveredBatch,
  PipelineObserver,
  PipelineStats,
  Stage,
  TopicPartition,
} from "./pipeline-observer.js";

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

/** The histogram families a pipeline binds its series in (`ConsumerMetrics` has them). */
export interface HistogramFamilies {
  readonly registry: Registry;
  readonly batchSize: Histogram<"pipeline">;
  readonly stageDuration: Histogram<"pipeline" | "stage">;
  readonly latency: EventHistogram<"pipeline">;
  readonly score: EventHistogram<"pipeline" | "model" | "version">;
  readonly confidence: EventHistogram<"pipeline" | "model" | "version">;
  readonly shadowDifference: EventHistogram<"pipeline" | "version">;
}

/** Predictions and reviews of one model version since the pipeline started. */
export interface VersionCounts {
  predictions: number;
  reviews: number;
}

/** A pipeline's counts since it started: what its counters and its `stats` are read from. */
export interface PipelineCounts {
  /** Input events processed and committed. */
  readonly events: number;
  readonly microBatches: number;
  /** Group (re)joins, the first one included. */
  readonly rebalances: number;
  readonly versions: ReadonlyMap<string, Readonly<VersionCounts>>;
  readonly deadLetters: ReadonlyMap<string, number>;
  /** Events whose lookup found no record, by feature. */
  readonly lookupMisses: ReadonlyMap<string, number>;
  readonly retries: ReadonlyMap<string, number>;
  readonly lastRetry: PipelineStats["lastRetry"];
}

interface VersionSeries {
  readonly counts: VersionCounts;
  readonly score: HistogramSeries;
  readonly confidence: HistogramSeries;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** One pipeline's series and counts. The partition handler calls it; nothing here throws. */
export class PipelineMetrics implements PipelineObserver {
  /** The registry these series are in (shared with the other pipelines of the same ConsumerMetrics). */
  readonly registry: Registry;
  readonly name: string;
  readonly model: string;
  readonly topics: PipelineIdentity["topics"];
  /** topic → partition → records behind. */
  readonly lag = new Map<string, Map<number, number>>();
  /** topic → partitions owned; undefined until the first assignment. */
  assignment: ReadonlyMap<string, ReadonlySet<number>> | undefined;
  /** The version that answered the latest micro-batch. */
  version: string | undefined;
  /** A rollout's counts, when the pipeline has one (`rolloutMetrics` makes them). */
  rollout: RolloutMetrics | undefined;
  /** Drift, evaluation and labels, when the pipeline has a `monitoring:` section. */
  monitoring: MonitoringMetrics | undefined;
  /** The feature state held in memory, when the store holds any (read at scrape time). */
  featureState: (() => { readonly entities: number; readonly bytes: number }) | undefined;
  readonly #counts = {
    events: 0,
    microBatches: 0,
    rebalances: 0,
    versions: new Map<string, VersionCounts>(),
    deadLetters: new Map<string, number>(),
    lookupMisses: new Map<string, number>(),
    retries: new Map<string, number>(),
    lastRetry: undefined as PipelineStats["lastRetry"],
  };
  readonly #families: HistogramFamilies;
  readonly #now: () => number;
  readonly #release: (self: PipelineMetrics) => void;
  readonly #batchSize: Histogram.Internal<"pipeline">;
  readonly #stages: Record<Stage, Histogram.Internal<"pipeline" | "stage">>;
  readonly #latency: HistogramSeries;
  readonly #versions = new Map<string, VersionSeries>();

  constructor(
    families: HistogramFamilies,
    identity: PipelineIdentity,
    now: () => number,
    release: (self: PipelineMetrics) => void,
  ) {
    const pipeline = identity.pipeline;
    this.registry = families.registry;
    this.name = pipeline;
    this.model = identity.model;
    this.topics = identity.topics;
    this.#families = families;
    this.#now = now;
    this.#release = release;
    this.#batchSize = families.batchSize.labels({ pipeline });
    const stage = (name: Stage) => families.stageDuration.labels({ pipeline, stage: name });
    this.#stages = {
      decode: stage("decode"),
      features: stage("features"),
      inference: stage("inference"),
      produce: stage("produce"),
      commit: stage("commit"),
    };
    this.#latency = families.latency.series({ pipeline });
  }

  /** The counts since the pipeline started, live (not a copy). */
  get counts(): PipelineCounts {
    return this.#counts;
  }

  /** The counts as the CLI prints them: a snapshot. */
  get stats(): PipelineStats {
    const counts = this.#counts;
    let predictions = 0;
    let reviews = 0;
    for (const version of counts.versions.values()) {
      predictions += version.predictions;
      reviews += version.reviews;
    }
    return {
      events: counts.events,
      predictions,
      reviews,
      deadLetters: Object.fromEntries(counts.deadLetters),
      microBatches: counts.microBatches,
      retries: sum(counts.retries.values()),
      lastRetry: counts.lastRetry,
    };
  }

  fetched(topic: string, partition: number, highWatermark: string, firstOffset: string): void {
    this.#setLag(topic, partition, Number(highWatermark) - Number(firstOffset));
  }

  resolved(topic: string, partition: number, highWatermark: string, lastOffset: string): void {
    this.#setLag(topic, partition, Number(highWatermark) - Number(lastOffset) - 1);
  }

  delivered(batch: DeliveredBatch): void {
    const { records, stages } = batch;
    const counts = this.#counts;
    counts.events += records.length;
    counts.microBatches++;
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
    for (const [version, outcome] of batch.versions) {
      const series = this.#version(version);
      series.counts.predictions += outcome.predictions;
      series.counts.reviews += outcome.reviews;
      const { scores, confidences } = outcome;
      for (let i = 0; i < scores.length; i++) series.score.observe(scores[i]!);
      for (let i = 0; i < confidences.length; i++) series.confidence.observe(confidences[i]!);
      this.version = version;
    }
    if (batch.arms !== undefined && batch.arms.size > 0) this.rollout?.delivered(batch.arms);
    for (const code in batch.deadLetters) {
      add(counts.deadLetters, code, batch.deadLetters[code] ?? 0);
    }
    for (const feature in batch.lookupMisses) {
      add(counts.lookupMisses, feature, batch.lookupMisses[feature] ?? 0);
    }
  }

  retried(failure: { readonly code: string; readonly message: string }): void {
    add(this.#counts.retries, failure.code, 1);
    this.#counts.lastRetry = { code: failure.code, message: failure.message, at: this.#now() };
  }

  assigned(partitions: readonly TopicPartition[]): void {
    this.#counts.rebalances++;
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

  /** The series of a shadow version's score difference (shadow − primary), bound once. */
  shadowDifference(version: string): HistogramSeries {
    return this.#families.shadowDifference.series({ pipeline: this.name, version });
  }

  /** It owns nothing, its gauges go; its counters stay. */
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
      const labels = { pipeline: this.name, model: this.model, version };
      const counts = { predictions: 0, reviews: 0 };
      this.#counts.versions.set(version, counts);
      series = {
        counts,
        score: this.#families.score.series(labels),
        confidence: this.#families.confidence.series(labels),
      };
      this.#versions.set(version, series);
    }
    return series;
  }
}
