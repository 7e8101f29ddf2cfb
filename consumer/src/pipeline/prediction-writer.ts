/**
 * Prediction records, written for a whole micro-batch: the JSON value of each straight from its
 * fields, in the fixed order of `Prediction`, with what the micro-batch shares (the model, the
 * prediction time, the model version, the source topic and partition) encoded once. The value is
 * byte for byte `JSON.stringify(makePrediction(…))` (output-records.test.ts pins it); a generic
 * serializer per event cost about 2 % of the consumer's thread at its maximum drain, and two ISO
 * dates per event one more.
 */
import type { RecordHeaders } from "../ports/kafka.js";
import { HEADERS, TRACE_HEADERS, fp32Number, type Source } from "./output-records.js";
import type { Score } from "./scorer.js";

/** A finite number as JSON writes it; NaN and ±Infinity are `null` there too. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

export class PredictionWriter {
  readonly #head: string;
  readonly #tail: string;
  /** The source partition of the last headers and its header value. */
  #partition = -1;
  #partitionValue = "";
  /** The model version of the last prediction and its encoded part (one version per batch, usually). */
  #version: string | undefined;
  #versionPart = "";
  /** The score (P(class 1)) of the last value written. */
  score = 0;
  /** The confidence (largest probability) of the last value written. */
  confidence = 0;

  /** `now`: the micro-batch's prediction time (ms since the epoch), one for all its predictions. */
  constructor(model: string, now: number) {
    this.#head = `,"model":${JSON.stringify(model)},"model_version":`;
    this.#tail = `,"predicted_at":"${new Date(now).toISOString()}"}`;
  }

  /**
   * The prediction's JSON value; its score and confidence are left in `score` and `confidence`
   * (no object per event). Throws a RangeError, as `toISOString` does, for an event time that is
   * no date.
   */
  value(id: string, source: Source, score: Score, eventTime: number): string {
    const { probabilities, modelVersion } = score;
    let list = "";
    let confidence = -Infinity;
    let first = 0;
    let second = 0;
    for (let i = 0; i < probabilities.length; i++) {
      const p = fp32Number(probabilities[i]!);
      if (i === 0) first = p;
      else if (i === 1) second = p;
      // Math.max's semantics: a NaN anywhere makes the maximum NaN.
      confidence = Number.isNaN(p) || Number.isNaN(confidence) ? NaN : Math.max(confidence, p);
      list += i === 0 ? jsonNumber(p) : `,${jsonNumber(p)}`;
    }
    const fraud = probabilities.length > 1 ? second : first;
    if (modelVersion !== this.#version) {
      this.#version = modelVersion;
      this.#versionPart = JSON.stringify(modelVersion);
    }
    this.score = fraud;
    this.confidence = confidence;
    const key = source.record.key;
    return (
      `{"id":${JSON.stringify(id)},"key":${key === null ? "null" : JSON.stringify(key.toString("utf8"))}` +
      `${this.#head}${this.#versionPart},"label":${jsonNumber(score.label)}` +
      `,"score":${jsonNumber(fraud)},"probabilities":[${list}],"confidence":${jsonNumber(confidence)}` +
      `,"event_time":"${new Date(eventTime).toISOString()}"${this.#tail}`
    );
  }

  /** A prediction record's headers: its model version, where it came from, its trace context. */
  headers(source: Source, modelVersion: string): RecordHeaders {
    const { record, partition } = source;
    if (partition !== this.#partition) {
      this.#partition = partition;
      this.#partitionValue = String(partition);
    }
    const headers: RecordHeaders = {
      [HEADERS.modelVersion]: modelVersion,
      [HEADERS.sourceTopic]: source.topic,
      [HEADERS.sourcePartition]: this.#partitionValue,
      [HEADERS.sourceOffset]: record.offset,
    };
    for (const name of TRACE_HEADERS) {
      const value = record.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    return headers;
  }
}
