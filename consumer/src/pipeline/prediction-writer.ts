/**
 * Prediction records, written for a whole micro-batch: the JSON value of each straight from its
 * fields, in the fixed order of `Prediction`, with what the micro-batch shares (the model, the
 * prediction time, the model version, the source topic and partition) encoded once. The value is
 * byte for byte `JSON.stringify(makePrediction(…))` (prediction-writer.test.ts pins it); a generic
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

/** The smallest normal double (Number.MIN_VALUE is the smallest subnormal one). */
const MIN_NORMAL = 2 ** -1022;

/** `toPrecision(7)`'s trailing zeros of a fraction, with the point when nothing is left of it. */
const TRAILING_ZEROS = /\.?0+$/;

/**
 * `jsonNumber(fp32Number(value))` from one conversion to text instead of two: `toPrecision(7)`
 * with the zeros that end its fraction dropped is how `String` writes the number it parses to,
 * in fixed notation (exponent −7 < e < 7, which holds every probability) and in exponential
 * notation below 1e-6 alike: two decimals of at most seven digits never parse to one double. Above
 * 1e7 `String` writes all the digits, and a subnormal double holds fewer than seven: those go the
 * long way.
 */
function fp32Text(value: number): string {
  if (!Number.isFinite(value)) return "null";
  const text = value.toPrecision(7);
  const e = text.indexOf("e");
  if (e < 0) return text.indexOf(".") < 0 ? text : text.replace(TRAILING_ZEROS, "");
  // Above 1e7, and for subnormal numbers (fewer than seven digits of precision), the long way.
  if (text.charCodeAt(e + 1) === 43 /* "+" */ || Math.abs(value) < MIN_NORMAL) {
    return String(Number(text));
  }
  return text.slice(0, e).replace(TRAILING_ZEROS, "") + text.slice(e);
}

/** "00" to "59" and "000" to "999": the seconds and milliseconds of an ISO time. */
const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, "0"));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, "0"));
const MINUTE_MS = 60_000;

/**
 * `new Date(time).toISOString()`, with the minute's prefix (`2026-12-07T04:30:`) made once while
 * the times stay in one minute, as a micro-batch's mostly do: a Date and its formatting per
 * event were about 1 % of the consumer's thread.
 */
class IsoTimes {
  #minute = NaN;
  #prefix = "";

  format(time: number): string {
    const minute = time - (((time % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
    if (minute !== this.#minute) {
      const iso = new Date(time).toISOString();
      // Years outside 0000-9999 are written with six digits and a sign: no prefix for those.
      if (iso.length !== 24) return iso;
      this.#minute = minute;
      this.#prefix = iso.slice(0, 17);
    }
    const within = time - minute;
    return `${this.#prefix}${TWO_DIGITS[Math.floor(within / 1000)]!}.${THREE_DIGITS[within % 1000]!}Z`;
  }
}

export class PredictionWriter {
  /**
   * The value's pieces, the constant ones in place, joined per event. `join` makes one flat
   * string; concatenation would leave a rope of a dozen pieces per value alive until the record
   * is produced, and in bench/consumer-path.bench.ts the garbage collector's work on those cost
   * more than JSON.stringify did.
   */
  readonly #parts: string[];
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
  readonly #times = new IsoTimes();

  /** `now`: the micro-batch's prediction time (ms since the epoch), one for all its predictions. */
  constructor(model: string, now: number) {
    this.#parts = [
      '{"id":',
      "",
      ',"key":',
      "",
      `,"model":${JSON.stringify(model)},"model_version":`,
      "",
      ',"label":',
      "",
      ',"score":',
      "",
      ',"probabilities":[',
      "",
      '],"confidence":',
      "",
      ',"event_time":"',
      "",
      `","predicted_at":"${new Date(now).toISOString()}"`,
      "",
      "}",
    ];
  }

  /**
   * The prediction's JSON value; its score and confidence are left in `score` and `confidence`
   * (no object per event). Throws a RangeError, as `toISOString` does, for an event time that is
   * no date.
   */
  value(id: string, source: Source, score: Score, eventTime: number): string {
    const { probabilities, modelVersion } = score;
    // Each probability is formatted once: the score and the confidence are among them.
    let list = "";
    let confidence = -Infinity;
    let confidenceText = "null";
    let fraud = 0;
    let fraudText = "0";
    for (let i = 0; i < probabilities.length; i++) {
      const text = fp32Text(probabilities[i]!);
      // What the text says: fp32Number's value (NaN for "null", as Number(NaN.toPrecision(7))).
      const p = text === "null" ? fp32Number(probabilities[i]!) : Number(text);
      if (i === 0 || i === 1) {
        fraud = p;
        fraudText = text;
      }
      // Math.max's semantics: a NaN anywhere makes the maximum NaN.
      if (Number.isNaN(p) || Number.isNaN(confidence)) {
        confidence = NaN;
        confidenceText = "null";
      } else if (p > confidence) {
        confidence = p;
        confidenceText = text;
      }
      list += i === 0 ? text : `,${text}`;
    }
    if (modelVersion !== this.#version) {
      this.#version = modelVersion;
      this.#versionPart = JSON.stringify(modelVersion);
    }
    this.score = fraud;
    this.confidence = confidence;
    const key = source.record.key;
    const parts = this.#parts;
    parts[1] = JSON.stringify(id);
    parts[3] = key === null ? "null" : JSON.stringify(key.toString("utf8"));
    parts[5] = this.#versionPart;
    parts[7] = jsonNumber(score.label);
    parts[9] = fraudText;
    parts[11] = list;
    parts[13] = confidenceText;
    parts[15] = Number.isInteger(eventTime)
      ? this.#times.format(eventTime)
      : new Date(eventTime).toISOString();
    // With a rollout, the arm comes last (as `makePrediction` appends it); without one, nothing.
    parts[17] = score.arm === undefined ? "" : `,"arm":${JSON.stringify(score.arm)}`;
    return parts.join("");
  }

  /**
   * A prediction record's headers: its model version, where it came from, its rollout arm (with
   * a rollout), its trace context.
   */
  headers(source: Source, modelVersion: string, arm?: string): RecordHeaders {
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
    if (arm !== undefined) headers[HEADERS.arm] = arm;
    for (const name of TRACE_HEADERS) {
      const value = record.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    return headers;
  }
}
