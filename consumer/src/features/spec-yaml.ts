/**
 * The shape of the `features:` section as written in YAML: keys, types and scalar formats
 * (durations like "10m", field paths, key templates, names). What the values mean together is
 * checked by `spec-meaning.ts`.
 */
import { z } from "zod";
import {
  COMPARE_OPS,
  ENCODING_OUTPUTS,
  FIELD_TYPES,
  LOOKUP_MISSING_POLICIES,
  TIME_ENCODINGS,
  TIME_PARTS,
  WINDOW_AGGREGATIONS,
} from "./feature-definition.js";
import { describeValue } from "@sluice/kit";

// Scalars

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** `"90s"`, `"1h30m"`, `"7d"` → milliseconds; undefined for anything else (bare numbers have no unit). */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== "string" || !DURATION_RE.test(value)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(DURATION_PART_RE)) {
    ms += Number(amount) * (DURATION_UNITS_MS[unit ?? ""] ?? Number.NaN);
  }
  ms = Math.round(ms);
  return ms > 0 && Number.isFinite(ms) ? ms : undefined;
}

/** `"10m"`, `"1h30m"` → milliseconds. */
export const durationMs = z.any().transform((value: unknown, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected a duration like "10m", got ${describeValue(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});

const FIELD_PATH_RE = /^[^.\s{}]+(?:\.[^.\s{}]+)*$/;
const fieldPath = z.string().regex(FIELD_PATH_RE, {
  error: (issue) =>
    `expected a field path like "user_id" or "payload.amount", got ${describeValue(issue.input)}`,
});

const PLACEHOLDER_RE = /\{([^{}]*)\}/g;
const keyTemplate = z.string().superRefine((template, ctx) => {
  const paths = [...template.matchAll(PLACEHOLDER_RE)].map((match) => match[1] ?? "");
  const stray = template.replace(PLACEHOLDER_RE, "");
  if (paths.length === 0 || /[{}]/.test(stray) || paths.some((p) => !FIELD_PATH_RE.test(p))) {
    ctx.addIssue({
      code: "custom",
      message: `expected a key template with field placeholders like "user:{user_id}", got ${describeValue(template)}`,
    });
  }
});

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const featureName = z.string().regex(NAME_RE, {
  error: (issue) =>
    `expected a name of letters, digits, "_", "." or "-" like "tx_count_5m", got ${describeValue(issue.input)}`,
});

const scalar = z.union([z.number(), z.string(), z.boolean()]);

// Mappings

export const STEP_KEYS = ["log1p", "log", "clip", "bucketize", "one_hot", "hash_buckets"] as const;

/** `log1p` is shorthand for `{ log1p: true }`; every other step is a one-key mapping. */
const rawStep = z.preprocess(
  (value) => (typeof value === "string" ? { [value]: true } : value),
  z.strictObject({
    log1p: z.literal(true).optional(),
    log: z.literal(true).optional(),
    clip: z.strictObject({ min: z.number().optional(), max: z.number().optional() }).optional(),
    bucketize: z
      .strictObject({
        boundaries: z.array(z.number()).min(1),
        output: z.enum(ENCODING_OUTPUTS).default("one_hot"),
      })
      .optional(),
    one_hot: z.strictObject({ vocabulary: z.array(z.string()).min(1) }).optional(),
    hash_buckets: z
      .strictObject({
        buckets: z.number().int().min(2),
        output: z.enum(ENCODING_OUTPUTS).default("one_hot"),
      })
      .optional(),
  }),
);
export type RawStep = z.output<typeof rawStep>;

/** One step may be written without the list. */
const rawTransforms = z.preprocess(
  (value): unknown[] =>
    value === undefined ? [] : Array.isArray(value) ? (value as unknown[]) : [value],
  z.array(rawStep),
);

const rawWindow = z.strictObject({
  agg: z.enum(WINDOW_AGGREGATIONS),
  field: fieldPath.optional(),
  over: durationMs,
  default: z.union([z.number(), z.string()]).optional(),
});

const rawSincePrevious = z.strictObject({ cap: durationMs, default: durationMs.optional() });

const rawTime = z.strictObject({
  part: z.enum(TIME_PARTS),
  encoding: z.enum(TIME_ENCODINGS).default("raw"),
});

/** `missing: null` in YAML is the null value, not the word: both mean the null policy. */
const missingPolicy = z
  .union([z.enum(LOOKUP_MISSING_POLICIES), z.null()], {
    error: (issue) => `expected one of default, dlq, null, got ${describeValue(issue.input)}`,
  })
  .transform((value) => value ?? "null");

const rawLookup = z.strictObject({
  key: keyTemplate,
  field: z.string().min(1),
  type: z.enum(["string", "number"]).default("string"),
  missing: missingPolicy.optional(),
  default: z.union([z.string(), z.number()]).optional(),
  // NaN (YAML `.nan`) is what tree models take for "unknown".
  null_value: z.union([z.number(), z.nan()]).optional(),
  cache_ttl: durationMs.optional(),
  compare: z
    .strictObject({
      op: z.enum(COMPARE_OPS),
      field: fieldPath,
      default: z.string().optional(),
    })
    .optional(),
});

const rawHook = z.strictObject({
  module: z.string().min(1),
  export: z.string().min(1).default("default"),
  outputs: z.array(featureName).min(1),
});

const operandShape = {
  field: fieldPath.optional(),
  type: z.enum(FIELD_TYPES).optional(),
  default: scalar.optional(),
  window: rawWindow.optional(),
  since_previous: rawSincePrevious.optional(),
  time: rawTime.optional(),
  lookup: rawLookup.optional(),
  transform: rawTransforms,
};
const rawOperand = z.strictObject(operandShape);
export type RawOperand = z.output<typeof rawOperand>;

const rawEntry = z.strictObject({
  name: featureName.optional(),
  names: z.array(featureName).min(1).optional(),
  ...operandShape,
  ratio: z
    .strictObject({
      numerator: rawOperand,
      denominator: rawOperand,
      min_denominator: z.number().optional(),
    })
    .optional(),
  hook: rawHook.optional(),
});
export type RawEntry = z.output<typeof rawEntry>;

export const rawFeatures = z.strictObject({
  entity_key: fieldPath,
  event_time: fieldPath,
  vector: z.array(rawEntry).min(1),
});
export type RawFeatures = z.output<typeof rawFeatures>;
