/**
 * What a running pipeline reports, one fact at a time, as it happens: records fetched, offsets
 * resolved, micro-batches delivered or retried, partitions assigned, the pipeline stopped. The
 * partition handler and the pipeline report to this one interface and know nothing of Prometheus;
 * `PipelineMetrics` implements it, keeps the counts, and both `/metrics` and `pipeline.stats`
 * are read from those counts.
 */

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
  /** One per prediction, in order. */
  readonly scores: readonly number[];
  readonly confidences: readonly number[];
}

/** A micro-batch whose records are acknowledged and whose offset is committed. */
export interface DeliveredBatch {
  /** The input records: their Kafka timestamps start the end-to-end latency. */
  readonly records: readonly { readonly timestamp: string }[];
  /** Dead letters by error code. */
  readonly deadLetters: Readonly<Partial<Record<string, number>>>;
  /** Events whose lookup found no record, by feature; none when absent. */
  readonly lookupMisses?: Readonly<Partial<Record<string, number>>> | undefined;
  /** By the model version that answered (one entry, unless a version swap landed mid-batch). */
  readonly versions: ReadonlyMap<string, VersionScores>;
  /** With a rollout: predictions by arm, then by the version that answered; none when absent. */
  readonly arms?: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined;
  readonly stages: StageSeconds;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** The pipeline's side of its telemetry. Implementations must not throw. */
export interface PipelineObserver {
  /** A partition's records arrived, from `firstOffset`; `highWatermark` came with them. */
  fetched(topic: string, partition: number, highWatermark: string, firstOffset: string): void;
  /** The records of a partition up to `lastOffset` are done (delivered and committed). */
  resolved(topic: string, partition: number, highWatermark: string, lastOffset: string): void;
  /** A micro-batch's outputs are acknowledged and its offset committed. */
  delivered(batch: DeliveredBatch): void;
  /** A micro-batch failed retryably (a ConsumerError's code and message) and will be processed again. */
  retried(failure: { readonly code: string; readonly message: string }): void;
  /** The group was (re)joined and this member owns `partitions` now. */
  assigned(partitions: readonly TopicPartition[]): void;
  /** The pipeline stopped: it owns nothing any more. */
  stopped(): void;
}

/** A running pipeline's counts as the CLI prints them and tests wait on them. */
export interface PipelineStats {
  /** Input records processed and committed. */
  readonly events: number;
  readonly predictions: number;
  readonly reviews: number;
  /** Dead letters by error code. */
  readonly deadLetters: Readonly<Record<string, number>>;
  readonly microBatches: number;
  /** Micro-batches that failed retryably and were scheduled again. */
  readonly retries: number;
  /** The last retryable failure, for a status line. */
  readonly lastRetry:
    { readonly code: string; readonly message: string; readonly at: number } | undefined;
}
