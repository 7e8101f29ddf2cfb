/**
 * A feature spec after validation: what the extractor compiles. Durations are milliseconds (or
 * seconds where the output is seconds), every default is filled and every output is named.
 * `feature-spec.ts` produces it from YAML; nothing here knows about YAML or zod.
 */

export const FIELD_TYPES = ["number", "string", "boolean"] as const;
export type FieldType = (typeof FIELD_TYPES)[number];
export const WINDOW_AGGREGATIONS = [
  "count",
  "sum",
  "mean",
  "min",
  "max",
  "distinct_count",
] as const;
export type WindowAggregation = (typeof WINDOW_AGGREGATIONS)[number];
export const TIME_PARTS = ["hour_of_day", "day_of_week"] as const;
export type TimePart = (typeof TIME_PARTS)[number];
export const TIME_ENCODINGS = ["raw", "cyclic"] as const;
export type TimeEncoding = (typeof TIME_ENCODINGS)[number];
export const COMPARE_OPS = ["equals", "mismatch"] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];
export const ENCODING_OUTPUTS = ["one_hot", "index"] as const;
export const LOOKUP_MISSING_POLICIES = ["default", "dlq", "null"] as const;
export type LookupMissingPolicy = (typeof LOOKUP_MISSING_POLICIES)[number];
export type EncodingOutput = (typeof ENCODING_OUTPUTS)[number];

/** A looked-up value is re-read at most this often: profiles change rarely, a minute bounds staleness after an edit. */
export const DEFAULT_LOOKUP_CACHE_TTL_MS = 60_000;
/**
 * What a feature whose lookup missed writes when its spec says nothing: zeros, what a one-hot
 * writes for a value it does not know. The event is scored and the miss counted, never dropped.
 */
export const DEFAULT_LOOKUP_NULL_VALUE = 0;

export type Scalar = number | string | boolean;

export interface FieldSource {
  readonly kind: "field";
  readonly path: string;
  readonly type: FieldType;
  /** Used when the field is missing or null; without one such an event is invalid. */
  readonly default: Scalar | undefined;
}
export interface WindowSource {
  readonly kind: "window";
  readonly aggregation: WindowAggregation;
  /** The aggregated field; undefined for `count`. */
  readonly field: string | undefined;
  readonly overMs: number;
  /** Value recorded for an event that lacks the field; without one such an event is invalid. */
  readonly default: number | string | undefined;
}
export interface SincePreviousSource {
  readonly kind: "since_previous";
  readonly capSeconds: number;
  /** For an entity's first event (or first after its state expired). */
  readonly defaultSeconds: number;
}
export interface TimeSource {
  readonly kind: "time";
  readonly part: TimePart;
  readonly encoding: TimeEncoding;
}
export interface LookupSource {
  readonly kind: "lookup";
  /** Redis hash key template, e.g. `user:{user_id}`; placeholders are event field paths. */
  readonly key: string;
  /** Field of the hash. */
  readonly field: string;
  readonly type: "string" | "number";
  /** What a missing hash or field means. */
  readonly missing: LookupMissing;
  readonly cacheTtlMs: number;
  /** Turns the lookup into 0/1: does an event field equal (or differ from) the looked-up value. */
  readonly compare:
    | { readonly op: CompareOp; readonly field: string; readonly default: string | undefined }
    | undefined;
}
/**
 * A lookup that finds no record (or no field):
 * - `default`: `value` stands for the looked-up value, compare and transforms apply to it;
 * - `dlq`: the event goes to the dead-letter topic with a feature_error;
 * - `null`: the feature is unknown, each of its outputs is `value` as is (the model's own
 *   encoding of "unknown": a sentinel it was trained with, or NaN for models that take it).
 */
export type LookupMissing =
  | { readonly policy: "default"; readonly value: string | number }
  | { readonly policy: "dlq" }
  | { readonly policy: "null"; readonly value: number };

export interface HookSource {
  readonly kind: "hook";
  /** Module path, relative to the extractor's `baseDir`. */
  readonly module: string;
  readonly exportName: string;
  /** Names of the values the hook returns, in vector order. */
  readonly outputs: readonly string[];
}
/** One number computed from a source and scalar transforms, as the two sides of a ratio. */
export interface Operand {
  readonly source: OperandSource;
  readonly transforms: readonly Transform[];
}
export interface RatioSource {
  readonly kind: "ratio";
  readonly numerator: Operand;
  readonly denominator: Operand;
  /** The denominator is max(denominator, this). @default no floor */
  readonly minDenominator: number;
}
export type OperandSource =
  FieldSource | WindowSource | SincePreviousSource | TimeSource | LookupSource;
export type Source = OperandSource | RatioSource | HookSource;

export type Transform =
  | { readonly kind: "log1p" }
  | { readonly kind: "log" }
  | { readonly kind: "clip"; readonly min: number; readonly max: number }
  | {
      readonly kind: "bucketize";
      readonly boundaries: readonly number[];
      readonly output: EncodingOutput;
    }
  | { readonly kind: "one_hot"; readonly vocabulary: readonly string[] }
  | { readonly kind: "hash_buckets"; readonly buckets: number; readonly output: EncodingOutput };

export interface FeatureDefinition {
  readonly name: string;
  /** Names of this feature's outputs, in vector order (one for a scalar feature). */
  readonly outputs: readonly string[];
  readonly source: Source;
  readonly transforms: readonly Transform[];
}

export interface FeatureSpec {
  /** Field path of the entity whose history stateful features aggregate (e.g. the user). */
  readonly entityKey: string;
  /** Field path of the event time: ISO-8601 with a zone, or epoch milliseconds. */
  readonly eventTime: string;
  readonly features: readonly FeatureDefinition[];
  /** Every output name, in vector order. */
  readonly names: readonly string[];
  /** The row length: `names.length`. */
  readonly width: number;
}
