/**
 * One micro-batch of one partition, forward through the stages: decode → features (one store
 * call) → score (one ModelInfer call) → output records. Events that fail a stage become dead
 * letters with the reason and leave the batch; the rest go on. A stage that fails as a whole for
 * reasons of the world (Redis, the sidecar) rejects with a retryable ConsumerError and the caller
 * retries the micro-batch: every stage is idempotent, so a retry computes the same records.
 */
import { ConsumerError } from "../errors.js";
import type { FeatureEvent, FeatureExtractor } from "../features/feature-extractor.js";
import { decodeJson } from "./json-decoder.js";
import type { InputRecord, OutputRecord } from "../ports/kafka.js";
import { NO_TRACE, type MicroBatchTrace } from "../observability/micro-batch-trace.js";
import {
  deadLetterRecord,
  eventId,
  makePrediction,
  predictionRecord,
  type Source,
} from "./output-records.js";
import type { Scorer } from "./scorer.js";

export interface MicroBatchSettings {
  readonly model: string;
  readonly idField: string;
  readonly outputTopic: string;
  readonly deadLetterTopic: string;
  /** Predictions less confident than `reviewBelow` are also written here; none when undefined. */
  readonly reviewTopic: string | undefined;
  readonly reviewBelow: number;
}

export interface MicroBatchResult {
  /** In input order: each event's prediction (and review copy) or its dead letter. */
  readonly records: OutputRecord[];
  readonly predictions: number;
  readonly reviews: number;
  /** Dead letters by error code. */
  readonly deadLetters: Readonly<Partial<Record<ConsumerError["code"], number>>>;
  /** The predictions by the model version that answered (one entry, unless a version swap landed mid-batch). */
  readonly versions: ReadonlyMap<string, VersionOutcome>;
  /** Seconds spent in each stage of this micro-batch. */
  readonly seconds: {
    readonly decode: number;
    readonly features: number;
    readonly inference: number;
  };
}

/** What one model version predicted in a micro-batch, for the score and confidence metrics. */
export interface VersionOutcome {
  predictions: number;
  reviews: number;
  /** One per prediction, in order. */
  readonly scores: number[];
  readonly confidences: number[];
}

/** The part of the feature extractor a micro-batch needs. */
export type Features = Pick<FeatureExtractor, "width" | "compute">;

type Stage =
  | { readonly kind: "failed"; readonly error: ConsumerError }
  | { readonly kind: "decoded"; readonly value: unknown }
  | {
      readonly kind: "scored";
      readonly value: unknown;
      readonly eventTime: number;
      readonly row: number;
    };

export class MicroBatchProcessor {
  readonly #features: Features;
  readonly #scorer: Scorer;
  readonly #settings: MicroBatchSettings;
  readonly #now: () => number;

  constructor(
    features: Features,
    scorer: Scorer,
    settings: MicroBatchSettings,
    now: () => number = Date.now,
  ) {
    this.#features = features;
    this.#scorer = scorer;
    this.#settings = settings;
    this.#now = now;
  }

  /** `trace` hears of each event's outcome and stamps each output record's trace context. */
  async process(
    topic: string,
    partition: number,
    records: readonly InputRecord[],
    trace: MicroBatchTrace = NO_TRACE,
  ): Promise<MicroBatchResult> {
    const startedAt = performance.now();
    const sources: Source[] = records.map((record) => ({ topic, partition, record }));
    const stages: Stage[] = records.map((record) => {
      const decoded = decodeJson(record.value);
      return decoded.ok
        ? { kind: "decoded", value: decoded.value }
        : { kind: "failed", error: decoded.error };
    });

    const decodedAt = performance.now();
    const decoded = stages.flatMap((stage, i) => (stage.kind === "decoded" ? [i] : []));
    const events: FeatureEvent[] = decoded.map((i) => {
      const record = records[i]!;
      return {
        value: (stages[i] as { value: unknown }).value,
        key: record.key === null ? null : record.key.toString("utf8"),
        topic,
        partition,
        offset: record.offset,
      };
    });
    const outcomes = events.length === 0 ? [] : await this.#features.compute(events);

    const width = this.#features.width;
    const rows = new Float32Array(outcomes.filter((outcome) => outcome.ok).length * width);
    let count = 0;
    outcomes.forEach((outcome, j) => {
      const i = decoded[j]!;
      if (!outcome.ok) {
        stages[i] = { kind: "failed", error: outcome.error };
        return;
      }
      rows.set(outcome.row, count * width);
      stages[i] = {
        kind: "scored",
        value: (stages[i] as { value: unknown }).value,
        eventTime: outcome.eventTime,
        row: count++,
      };
    });
    const featuresAt = performance.now();
    const scores = await this.#scorer.score(rows, count);
    const scoredAt = performance.now();

    const settings = this.#settings;
    const now = this.#now();
    const output: OutputRecord[] = [];
    const deadLetters: Partial<Record<ConsumerError["code"], number>> = {};
    let predictions = 0;
    let reviews = 0;
    const versions = new Map<string, VersionOutcome>();
    const emit = (i: number, record: OutputRecord): void => {
      trace.created(i, record);
      output.push(record);
    };
    const deadLetter = (i: number, source: Source, error: ConsumerError): void => {
      trace.deadLettered(i, error);
      emit(i, deadLetterRecord(settings.deadLetterTopic, source, error));
      deadLetters[error.code] = (deadLetters[error.code] ?? 0) + 1;
    };
    stages.forEach((stage, i) => {
      const source = sources[i]!;
      if (stage.kind === "failed") return deadLetter(i, source, stage.error);
      if (stage.kind === "decoded") {
        throw new ConsumerError(
          "internal",
          `event at offset ${source.record.offset} got no features`,
        );
      }
      const outcome = scores[stage.row];
      if (outcome === undefined) {
        throw new ConsumerError("internal", `event at offset ${source.record.offset} got no score`);
      }
      if (!outcome.ok) return deadLetter(i, source, outcome.error);
      trace.scored(i, outcome.score.modelVersion);
      const id = eventId(source, stage.value, settings.idField);
      const prediction = makePrediction(
        source,
        id,
        settings.model,
        outcome.score,
        stage.eventTime,
        now,
      );
      emit(i, predictionRecord(settings.outputTopic, source, prediction));
      predictions++;
      let version = versions.get(prediction.model_version);
      if (version === undefined) {
        version = { predictions: 0, reviews: 0, scores: [], confidences: [] };
        versions.set(prediction.model_version, version);
      }
      version.predictions++;
      version.scores.push(prediction.score);
      version.confidences.push(prediction.confidence);
      if (settings.reviewTopic !== undefined && prediction.confidence < settings.reviewBelow) {
        version.reviews++;
        emit(i, predictionRecord(settings.reviewTopic, source, prediction));
        reviews++;
      }
    });
    return {
      records: output,
      predictions,
      reviews,
      deadLetters,
      versions,
      seconds: {
        decode: (decodedAt - startedAt) / 1000,
        features: (featuresAt - decodedAt) / 1000,
        inference: (scoredAt - featuresAt) / 1000,
      },
    };
  }
}
