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
import type { InputRecord, OutputRecord } from "./kafka-port.js";
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

  async process(
    topic: string,
    partition: number,
    records: readonly InputRecord[],
  ): Promise<MicroBatchResult> {
    const sources: Source[] = records.map((record) => ({ topic, partition, record }));
    const stages: Stage[] = records.map((record) => {
      const decoded = decodeJson(record.value);
      return decoded.ok
        ? { kind: "decoded", value: decoded.value }
        : { kind: "failed", error: decoded.error };
    });

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
    const scores = await this.#scorer.score(rows, count);

    const settings = this.#settings;
    const now = this.#now();
    const output: OutputRecord[] = [];
    const deadLetters: Partial<Record<ConsumerError["code"], number>> = {};
    let predictions = 0;
    let reviews = 0;
    const deadLetter = (source: Source, error: ConsumerError): void => {
      output.push(deadLetterRecord(settings.deadLetterTopic, source, error));
      deadLetters[error.code] = (deadLetters[error.code] ?? 0) + 1;
    };
    stages.forEach((stage, i) => {
      const source = sources[i]!;
      if (stage.kind === "failed") return deadLetter(source, stage.error);
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
      if (!outcome.ok) return deadLetter(source, outcome.error);
      const id = eventId(source, stage.value, settings.idField);
      const prediction = makePrediction(
        source,
        id,
        settings.model,
        outcome.score,
        stage.eventTime,
        now,
      );
      output.push(predictionRecord(settings.outputTopic, source, prediction));
      predictions++;
      if (settings.reviewTopic !== undefined && prediction.confidence < settings.reviewBelow) {
        output.push(predictionRecord(settings.reviewTopic, source, prediction));
        reviews++;
      }
    });
    return { records: output, predictions, reviews, deadLetters };
  }
}
