/**
 * The stateless arithmetic of features: scalar transforms, encodings that expand one value into
 * several floats, and calendar features of the event time. Pure functions, no I/O.
 */
import type { TimeEncoding, TimePart, Transform } from "./feature-definition.js";

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;
/** 1970-01-01 was a Thursday: day 3 when Monday is day 0. */
const EPOCH_DAY_OF_WEEK = 3;

/** UTC hour of the day taken to the minute (seconds dropped): 12:31:59 → 12 + 31/60. */
export function hourOfDay(ms: number): number {
  const minutes = Math.floor(ms / MS_PER_MINUTE);
  const minuteOfDay = ((minutes % 1440) + 1440) % 1440;
  return Math.floor(minuteOfDay / 60) + (minuteOfDay % 60) / 60;
}

/** UTC day of the week, Monday 0 … Sunday 6 (ISO order, as pandas' `dayofweek`). */
export function dayOfWeek(ms: number): number {
  const days = Math.floor(ms / MS_PER_DAY);
  return (((days + EPOCH_DAY_OF_WEEK) % 7) + 7) % 7;
}

/** Writes the time feature at `row[offset]` (raw) or `row[offset]`, `row[offset + 1]` (sin, cos). */
export function writeTimeFeature(
  part: TimePart,
  encoding: TimeEncoding,
  ms: number,
  row: Float32Array,
  offset: number,
): void {
  const [value, period] = part === "hour_of_day" ? [hourOfDay(ms), 24] : [dayOfWeek(ms), 7];
  if (encoding === "raw") {
    row[offset] = value;
    return;
  }
  const angle = (2 * Math.PI * value) / period;
  row[offset] = Math.sin(angle);
  row[offset + 1] = Math.cos(angle);
}

/** Applies a scalar transform (log1p, log, clip); the caller checks the result is finite. */
export function applyScalar(transform: Transform, x: number): number {
  switch (transform.kind) {
    case "log1p":
      return Math.log1p(x);
    case "log":
      return Math.log(x);
    case "clip":
      return Math.min(Math.max(x, transform.min), transform.max);
    default:
      throw new TypeError(`${transform.kind} is an encoding, not a scalar transform`);
  }
}

/** Bucket of x: the number of boundaries ≤ x (numpy `digitize`): below the first → 0. */
export function bucketOf(boundaries: readonly number[], x: number): number {
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((boundaries[mid] ?? Number.POSITIVE_INFINITY) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const encoder = new TextEncoder();

/**
 * 32-bit FNV-1a of the UTF-8 bytes. Stable across processes, platforms and releases, which the
 * model depends on: changing it would move every value to another bucket.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** How many floats an encoding writes. */
export function encodedWidth(transform: Transform): number {
  switch (transform.kind) {
    case "bucketize":
      return transform.output === "index" ? 1 : transform.boundaries.length + 1;
    case "one_hot":
      return transform.vocabulary.length;
    case "hash_buckets":
      return transform.output === "index" ? 1 : transform.buckets;
    default:
      return 1;
  }
}

const vocabularies = new WeakMap<readonly string[], ReadonlyMap<string, number>>();

/** Word → position, built once per vocabulary: vocabularies of thousands of words stay O(1). */
function vocabularyIndex(vocabulary: readonly string[]): ReadonlyMap<string, number> {
  let index = vocabularies.get(vocabulary);
  if (index === undefined) {
    index = new Map(vocabulary.map((word, i) => [word, i]));
    vocabularies.set(vocabulary, index);
  }
  return index;
}

/**
 * Writes an encoding of `value` at `row[offset…]`. The row must be zeroed there (a fresh
 * Float32Array is): one-hots only set their 1. `one_hot` compares exact strings, so an unknown
 * value gives all zeros.
 */
export function writeEncoding(
  transform: Transform,
  value: number | string,
  row: Float32Array,
  offset: number,
): void {
  switch (transform.kind) {
    case "bucketize": {
      const bucket = bucketOf(transform.boundaries, Number(value));
      if (transform.output === "index") row[offset] = bucket;
      else row[offset + bucket] = 1;
      return;
    }
    case "one_hot": {
      const index = vocabularyIndex(transform.vocabulary).get(String(value));
      if (index !== undefined) row[offset + index] = 1;
      return;
    }
    case "hash_buckets": {
      const bucket = fnv1a32(String(value)) % transform.buckets;
      if (transform.output === "index") row[offset] = bucket;
      else row[offset + bucket] = 1;
      return;
    }
    default:
      throw new TypeError(`${transform.kind} is a scalar transform, not an encoding`);
  }
}
