/**
 * The stages of one micro-batch, in the order an event goes through them: decode → features →
 * score (`Scorer.score`, one ModelInfer) → records. Each stage takes what the one before made and
 * every event carries its progress along: an event that fails a stage keeps its error, skips the
 * stages after, and becomes a dead letter; the others go on. The stages hold no state, so a
 * retried micro-batch computes the same records.
 */
import { ConsumerError, type ConsumerErrorCode } from "../errors.js";
import type { FeatureEvent, FeatureExtractor } from "../features/feature-extractor.js";
import type { MicroBatchTrace } from "../observability/micro-batch-trace.js";
import type { VersionScores } from "../observability/pipeline-observer.js";
import type { InputRecord, OutputRecord } from "../ports/kafka.js";
import type { LabelEntry, PredictionEntry } from "../ports/label-join.js";
import { decodeJson } from "./json-decoder.js";
import { deadLetterRecord, eventId, type Source } from "./output-records.js";
import { PredictionWriter } from "./prediction-writer.js";
import type { Score, ScoreOutcome } from "./scorer.js";

/** The part of the feature extractor a micro-batch needs. */
export type Features = Pick<FeatureExtractor, "width" | "compute">;

/** Where one input event is on its way through the stages. */
export type EventProgress =
  | { readonly kind: "failed"; readonly error: ConsumerError }
  | { readonly kind: "decoded"; readonly value: unknown }
  | {
      readonly kind: "featured";
      readonly value: unknown;
      readonly eventTime: number;
      /** Its row in the feature rows, and so its index in the scores. */
      readonly row: number;
    };

/** Decode: each record's value as JSON, or why it is not (`decode_error`). */
export function decodeRecords(records: readonly InputRecord[]): EventProgress[] {
  return records.map((record) => {
    const decoded = decodeJson(record.value);
    return decoded.ok
      ? { kind: "decoded", value: decoded.value }
      : { kind: "failed", error: decoded.error };
  });
}

/** What the features stage gives the scorer: `count` rows of `width` floats, row-major. */
export interface FeatureRows {
  /** Per input event, in order: featured (with its row) or failed. */
  readonly events: EventProgress[];
  readonly rows: Float32Array;
  readonly count: number;
  /** Who each row is about, by row: the entity key and the decoded event. */
  readonly subjects: RowSubjects;
  /** Events whose lookup found no record, by feature (a lookup's missing policy decided the rest). */
  readonly lookupMisses: Readonly<Record<string, number>>;
}

/** Per feature row, what a scorer may route by (a rollout: the entity key and a segment field). */
export interface RowSubjects {
  readonly entities: readonly string[];
  readonly values: readonly unknown[];
}

/**
 * Features: every decoded event's row, computed in ONE call of `features` (one store round trip).
 * An event whose features cannot be computed fails; the rows of the others are packed in order.
 * Rejects, retryably, when the store is unavailable.
 */
export async function computeFeatures(
  features: Features,
  topic: string,
  partition: number,
  records: readonly InputRecord[],
  decoded: readonly EventProgress[],
): Promise<FeatureRows> {
  const events = [...decoded];
  const indices: number[] = [];
  const inputs: FeatureEvent[] = [];
  decoded.forEach((event, i) => {
    if (event.kind !== "decoded") return;
    const record = records[i]!;
    indices.push(i);
    inputs.push({
      value: event.value,
      key: record.key === null ? null : record.key.toString("utf8"),
      topic,
      partition,
      offset: record.offset,
    });
  });
  const outcomes = inputs.length === 0 ? [] : await features.compute(inputs);

  const width = features.width;
  const rows = new Float32Array(outcomes.filter((outcome) => outcome.ok).length * width);
  const lookupMisses: Record<string, number> = {};
  const subjects = { entities: [] as string[], values: [] as unknown[] };
  let count = 0;
  outcomes.forEach((outcome, j) => {
    const i = indices[j]!;
    for (const feature of outcome.lookupMisses ?? []) {
      lookupMisses[feature] = (lookupMisses[feature] ?? 0) + 1;
    }
    if (!outcome.ok) {
      events[i] = { kind: "failed", error: outcome.error };
      return;
    }
    rows.set(outcome.row, count * width);
    const { value } = inputs[j]!;
    subjects.entities.push(outcome.entity);
    subjects.values.push(value);
    events[i] = { kind: "featured", value, eventTime: outcome.eventTime, row: count++ };
  });
  return { events, rows, count, subjects, lookupMisses };
}

export interface RecordSettings {
  readonly model: string;
  readonly idField: string;
  readonly outputTopic: string;
  readonly deadLetterTopic: string;
  /** Predictions less confident than `reviewBelow` are also written here; none when undefined. */
  readonly reviewTopic: string | undefined;
  readonly reviewBelow: number;
  /** Lists each prediction as the label join records it (`predictionEntries`). @default false */
  readonly recordPredictions?: boolean;
}

/** A micro-batch's output records and what they count. */
export interface MicroBatchOutput {
  /** In input order: each event's prediction (and review copy) or its dead letter. */
  readonly records: OutputRecord[];
  readonly predictions: number;
  readonly reviews: number;
  /** Dead letters by error code. */
  readonly deadLetters: Readonly<Partial<Record<ConsumerErrorCode, number>>>;
  /** The predictions by the model version that answered (one entry, unless a version swap landed mid-batch). */
  readonly versions: ReadonlyMap<string, VersionScores>;
  /** With a rollout: predictions by arm, then by the version that answered; empty without. */
  readonly arms?: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** With `recordPredictions`: each prediction, for the label join to record once it is delivered. */
  readonly predictionEntries?: readonly PredictionEntry[];
  /** A label topic's micro-batch (monitoring/label-consumer.ts): the labels it decoded. */
  readonly labels?: readonly LabelEntry[];
}

/**
 * Records: each event's prediction record (and review copy) or dead letter, in input order, each
 * told to `trace` as it is made (which stamps its trace context). `now` is the predictions' time.
 * Throws `internal` when an event got no features or no score: a bug in the stages before.
 */
export function buildRecords(
  settings: RecordSettings,
  sources: readonly Source[],
  events: readonly EventProgress[],
  scores: readonly ScoreOutcome[],
  trace: MicroBatchTrace,
  now: number,
): MicroBatchOutput {
  const output = new OutputTally(trace);
  const writer = new PredictionWriter(settings.model, now);
  const entries: PredictionEntry[] | undefined =
    settings.recordPredictions === true ? [] : undefined;
  events.forEach((event, i) => {
    const source = sources[i]!;
    const scored = scoredEvent(event, scores, source);
    if (!scored.ok) {
      output.deadLetter(
        i,
        deadLetterRecord(settings.deadLetterTopic, source, scored.error),
        scored.error,
      );
      return;
    }
    const { value, eventTime, score } = scored;
    const id = eventId(source, value, settings.idField);
    const json = writer.value(id, source, score, eventTime);
    const { modelVersion } = score;
    const { key } = source.record;
    const record = {
      topic: settings.outputTopic,
      key,
      value: json,
      headers: writer.headers(source, modelVersion, score.arm),
    };
    // The review copy shares the value: one prediction, written once.
    const review =
      settings.reviewTopic !== undefined && writer.confidence < settings.reviewBelow
        ? {
            topic: settings.reviewTopic,
            key,
            value: json,
            headers: writer.headers(source, modelVersion, score.arm),
          }
        : undefined;
    output.prediction(i, modelVersion, writer.score, writer.confidence, record, review, score.arm);
    entries?.push({
      id,
      model: settings.model,
      version: modelVersion,
      arm: score.arm ?? "",
      score: writer.score,
      predictedAt: now,
      source: `${source.topic}/${source.partition}/${source.record.offset}`,
    });
  });
  const result = output.result();
  return entries === undefined ? result : { ...result, predictionEntries: entries };
}

type Scored =
  | {
      readonly ok: true;
      readonly value: unknown;
      readonly eventTime: number;
      readonly score: Score;
    }
  | { readonly ok: false; readonly error: ConsumerError };

/** An event's score, or the error that makes it a dead letter. */
function scoredEvent(
  event: EventProgress,
  scores: readonly ScoreOutcome[],
  source: Source,
): Scored {
  if (event.kind === "failed") return { ok: false, error: event.error };
  const offset = source.record.offset;
  if (event.kind === "decoded") {
    throw new ConsumerError("internal", `event at offset ${offset} got no features`);
  }
  const outcome = scores[event.row];
  if (outcome === undefined) {
    throw new ConsumerError("internal", `event at offset ${offset} got no score`);
  }
  if (!outcome.ok) return { ok: false, error: outcome.error };
  return { ok: true, value: event.value, eventTime: event.eventTime, score: outcome.score };
}

interface VersionTally {
  predictions: number;
  reviews: number;
  readonly scores: number[];
  readonly confidences: number[];
}

/** Collects a micro-batch's records in order, telling the trace of each, and counts them. */
class OutputTally {
  readonly #trace: MicroBatchTrace;
  readonly #records: OutputRecord[] = [];
  readonly #deadLetters: Partial<Record<ConsumerErrorCode, number>> = {};
  readonly #versions = new Map<string, VersionTally>();
  readonly #arms = new Map<string, Map<string, number>>();
  #predictions = 0;
  #reviews = 0;

  constructor(trace: MicroBatchTrace) {
    this.#trace = trace;
  }

  deadLetter(index: number, record: OutputRecord, error: ConsumerError): void {
    this.#trace.deadLettered(index, error);
    this.#emit(index, record);
    this.#deadLetters[error.code] = (this.#deadLetters[error.code] ?? 0) + 1;
  }

  prediction(
    index: number,
    modelVersion: string,
    score: number,
    confidence: number,
    record: OutputRecord,
    review: OutputRecord | undefined,
    arm: string | undefined,
  ): void {
    this.#trace.scored(index, modelVersion);
    this.#emit(index, record);
    this.#predictions++;
    let version = this.#versions.get(modelVersion);
    if (version === undefined) {
      version = { predictions: 0, reviews: 0, scores: [], confidences: [] };
      this.#versions.set(modelVersion, version);
    }
    version.predictions++;
    version.scores.push(score);
    version.confidences.push(confidence);
    if (arm !== undefined) this.#countArm(arm, modelVersion);
    if (review === undefined) return;
    version.reviews++;
    this.#emit(index, review);
    this.#reviews++;
  }

  result(): MicroBatchOutput {
    return {
      records: this.#records,
      predictions: this.#predictions,
      reviews: this.#reviews,
      deadLetters: this.#deadLetters,
      versions: this.#versions,
      arms: this.#arms,
    };
  }

  #countArm(arm: string, version: string): void {
    let versions = this.#arms.get(arm);
    if (versions === undefined) this.#arms.set(arm, (versions = new Map<string, number>()));
    versions.set(version, (versions.get(version) ?? 0) + 1);
  }

  #emit(index: number, record: OutputRecord): void {
    this.#trace.created(index, record);
    this.#records.push(record);
  }
}
