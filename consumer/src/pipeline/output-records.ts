/**
 * What the pipeline writes: prediction records (keyed by the input key, so a user's predictions
 * stay in order on one partition) and dead letters (the original bytes, key and headers, plus why
 * and where from, so the event can be fixed and replayed).
 */
import type { ConsumerError } from "../errors.js";
import type { InputRecord, OutputRecord, RecordHeaders } from "../ports/kafka.js";
import type { Score } from "./scorer.js";

export const HEADERS = {
  modelVersion: "sluice-model-version",
  /** With a rollout: the arm whose version scored the event (its `arm` field too). */
  arm: "sluice-arm",
  sourceTopic: "sluice-source-topic",
  sourcePartition: "sluice-source-partition",
  sourceOffset: "sluice-source-offset",
  sourceTimestamp: "sluice-source-timestamp",
  errorCode: "sluice-error-code",
  errorMessage: "sluice-error-message",
} as const;

/**
 * W3C trace context: a prediction stays in the trace of the event that caused it. Copied as is
 * without an SDK; with one, the micro-batch trace replaces it with the prediction's own create span.
 */
export const TRACE_HEADERS = ["traceparent", "tracestate"] as const;

/** The JSON value of a prediction record. */
export interface Prediction {
  /** The event's id field, or `<topic>/<partition>/<offset>` when it has none. */
  readonly id: string;
  /** The input record's key as UTF-8, or null. */
  readonly key: string | null;
  readonly model: string;
  readonly model_version: string;
  readonly label: number;
  /** P(class 1): the fraud probability for a binary model. */
  readonly score: number;
  readonly probabilities: readonly number[];
  /** The largest probability. */
  readonly confidence: number;
  /** ISO 8601, from the event's time field. */
  readonly event_time: string;
  /** ISO 8601, when the prediction was made. */
  readonly predicted_at: string;
  /** With a rollout: the arm that routed the event to `model_version`; absent without one. */
  readonly arm?: string;
}

/** Where an input record came from. */
export interface Source {
  readonly topic: string;
  readonly partition: number;
  readonly record: InputRecord;
}

/** Seven significant digits: what FP32 holds, without its binary noise (0.0299999993…) in the JSON. */
export function fp32Number(value: number): number {
  return Number(value.toPrecision(7));
}

export function eventId(source: Source, value: unknown, idField: string): string {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const id = (value as Record<string, unknown>)[idField];
    if (typeof id === "string" && id.length > 0) return id;
    if (typeof id === "number" && Number.isFinite(id)) return String(id);
  }
  return `${source.topic}/${source.partition}/${source.record.offset}`;
}

export function makePrediction(
  source: Source,
  id: string,
  model: string,
  score: Score,
  eventTime: number,
  now: number,
): Prediction {
  const probabilities = score.probabilities.map(fp32Number);
  const prediction: Prediction = {
    id,
    key: source.record.key === null ? null : source.record.key.toString("utf8"),
    model,
    model_version: score.modelVersion,
    label: score.label,
    score: probabilities.length > 1 ? (probabilities[1] ?? 0) : (probabilities[0] ?? 0),
    probabilities,
    confidence: Math.max(...probabilities),
    event_time: new Date(eventTime).toISOString(),
    predicted_at: new Date(now).toISOString(),
  };
  // Without a rollout the record is exactly what it was, at no extra cost per event.
  return score.arm === undefined ? prediction : { ...prediction, arm: score.arm };
}

function sourceHeaders(source: Source): RecordHeaders {
  return {
    [HEADERS.sourceTopic]: source.topic,
    [HEADERS.sourcePartition]: String(source.partition),
    [HEADERS.sourceOffset]: source.record.offset,
  };
}

export function predictionRecord(
  topic: string,
  source: Source,
  prediction: Prediction,
): OutputRecord {
  const headers: RecordHeaders = {
    [HEADERS.modelVersion]: prediction.model_version,
    ...sourceHeaders(source),
  };
  if (prediction.arm !== undefined) headers[HEADERS.arm] = prediction.arm;
  for (const name of TRACE_HEADERS) {
    const value = source.record.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return { topic, key: source.record.key, value: JSON.stringify(prediction), headers };
}

export function deadLetterRecord(
  topic: string,
  source: Source,
  error: ConsumerError,
): OutputRecord {
  return {
    topic,
    key: source.record.key,
    value: source.record.value,
    headers: {
      ...source.record.headers,
      [HEADERS.errorCode]: error.code,
      [HEADERS.errorMessage]: error.message,
      ...sourceHeaders(source),
      [HEADERS.sourceTimestamp]: source.record.timestamp,
    },
  };
}
