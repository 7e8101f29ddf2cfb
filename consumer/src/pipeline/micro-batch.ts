/**
 * One micro-batch of one partition, forward through the stages (micro-batch-stages.ts): decode →
 * features (one store call) → score (one ModelInfer call) → output records, each stage timed.
 * Events that fail a stage become dead letters with the reason and leave the batch; the rest go
 * on. A stage that fails as a whole for reasons of the world (Redis, the sidecar) rejects with a
 * retryable ConsumerError and the caller retries the micro-batch: every stage is idempotent, so a
 * retry computes the same records.
 */
import { NO_TRACE, type MicroBatchTrace } from "../observability/micro-batch-trace.js";
import type { InputRecord } from "../ports/kafka.js";
import {
  buildRecords,
  computeFeatures,
  decodeRecords,
  type Features,
  type MicroBatchOutput,
  type RecordSettings,
  type RowSubjects,
} from "./micro-batch-stages.js";
import type { ScoreOutcome } from "./scorer.js";

/**
 * What scores a micro-batch's feature rows: the `Scorer` (one ModelInfer), or a rollout's scorer
 * (rollout/), which routes rows by `subjects` to several versions. One outcome per row.
 */
export interface BatchScorer {
  score(rows: Float32Array, count: number, subjects: RowSubjects): Promise<ScoreOutcome[]>;
}

/** Hears of each micro-batch's scores with its feature rows (the drift monitor). */
export interface ScoreObserver {
  scored(rows: Float32Array, count: number, scores: readonly ScoreOutcome[]): void;
}

export interface MicroBatchResult extends MicroBatchOutput {
  /** Events whose lookup found no record, by feature. */
  readonly lookupMisses?: Readonly<Record<string, number>>;
  /** Seconds spent in each stage of this micro-batch. */
  readonly seconds: {
    readonly decode: number;
    readonly features: number;
    readonly inference: number;
  };
}

export class MicroBatchProcessor {
  readonly #features: Features;
  readonly #scorer: BatchScorer;
  readonly #settings: RecordSettings;
  readonly #now: () => number;
  readonly #observer: ScoreObserver | undefined;

  constructor(
    features: Features,
    scorer: BatchScorer,
    settings: RecordSettings,
    now: () => number = Date.now,
    observer?: ScoreObserver,
  ) {
    this.#features = features;
    this.#scorer = scorer;
    this.#settings = settings;
    this.#now = now;
    this.#observer = observer;
  }

  /** `trace` hears of each event's outcome and stamps each output record's trace context. */
  async process(
    topic: string,
    partition: number,
    records: readonly InputRecord[],
    trace: MicroBatchTrace = NO_TRACE,
  ): Promise<MicroBatchResult> {
    const startedAt = performance.now();
    const decoded = decodeRecords(records);
    const decodedAt = performance.now();
    const { events, rows, count, subjects, lookupMisses } = await computeFeatures(
      this.#features,
      topic,
      partition,
      records,
      decoded,
    );
    const featuresAt = performance.now();
    const scores = await this.#scorer.score(rows, count, subjects);
    const scoredAt = performance.now();
    this.#observer?.scored(rows, count, scores);
    const sources = records.map((record) => ({ topic, partition, record }));
    const output = buildRecords(this.#settings, sources, events, scores, trace, this.#now());
    return {
      ...output,
      lookupMisses,
      seconds: {
        decode: (decodedAt - startedAt) / 1000,
        features: (featuresAt - decodedAt) / 1000,
        inference: (scoredAt - featuresAt) / 1000,
      },
    };
  }
}
