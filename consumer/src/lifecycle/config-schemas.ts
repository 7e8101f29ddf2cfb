/**
 * The zod pieces the lifecycle sections of a pipeline file share (windows, weights, versions,
 * durations), and the one way they are parsed: kit's `schemaErrorMap`, then a `config_invalid`
 * ConsumerError with one line per problem, each with its full path
 * (`pipeline.rollout.arms[1].weight: expected a percentage from 0 to 100 in steps of 0.01, got 10.005`).
 */
import { z } from "zod";
import { describeValue, formatIssues, schemaErrorMap } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { durationMs } from "../features/spec-yaml.js";
import { BUCKETS } from "./entity-bucket.js";
import { DEFAULT_SLICES, type WindowSpec } from "./sliced-window.js";

/** A zod error option: `expected <what>, got <what came>`. */
export function expected(what: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => `expected ${what}, got ${describeValue(issue.input)}` };
}

export const positiveInt = (): z.ZodNumber =>
  z
    .number(expected("a positive integer"))
    .int(expected("a positive integer"))
    .min(1, expected("a positive integer"));

export const nonNegative = (): z.ZodNumber =>
  z.number(expected("a number ≥ 0")).min(0, expected("a number ≥ 0"));

export const fraction = (): z.ZodNumber =>
  z
    .number(expected("a number from 0 to 1"))
    .min(0, expected("a number from 0 to 1"))
    .max(1, expected("a number from 0 to 1"));

export { durationMs };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const name = z
  .string()
  .regex(NAME_RE, expected(`a name of letters, digits, ".", "_" or "-" like "canary"`));

/** Kafka's own rule for topic names (legal characters, at most 249 of them). */
export const topic = z
  .string()
  .regex(
    /^[A-Za-z0-9._-]{1,249}$/,
    expected(`a topic name of letters, digits, ".", "_" or "-" (at most 249)`),
  );

/** A version number or a label such as "stable" or "canary", as `model.version` takes. */
const VERSION = `a version number or a label like "stable"`;
export const modelVersion = z.union(
  [
    z.number(expected(VERSION)).int(expected(VERSION)).min(1, expected(VERSION)),
    z.string(expected(VERSION)).regex(/^[A-Za-z0-9._-]+$/, expected(VERSION)),
  ],
  expected(VERSION),
);

const PERCENT = "a percentage from 0 to 100 in steps of 0.01";
/** A weight in percent, to a basis point, as whole basis points (`12.5` → 1250). */
export const percentAsBasisPoints = z
  .number(expected(PERCENT))
  .min(0, expected(PERCENT))
  .max(100, expected(PERCENT))
  .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, expected(PERCENT))
  .transform((value) => Math.round((value * BUCKETS) / 100));

/**
 * `{ events: 10000 }` or `{ duration: "1h" }`, optionally `slices` (@default 10): a sliding
 * window by event count or by time.
 */
export const windowSchema = z
  .strictObject({
    events: positiveInt().optional(),
    duration: durationMs.optional(),
    slices: positiveInt().max(1000, expected("at most 1000 slices")).default(DEFAULT_SLICES),
  })
  .superRefine((window, ctx) => {
    if ((window.events === undefined) === (window.duration === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: `expected either events (a count) or duration (like "1h"), got ${
          window.events === undefined ? "neither" : "both"
        }`,
      });
    }
    if (window.events !== undefined && window.events < window.slices) {
      ctx.addIssue({
        code: "custom",
        path: ["slices"],
        message: `expected at most as many slices as events (${window.events}), got ${window.slices}`,
      });
    }
  })
  .transform((window): WindowSpec =>
    window.events !== undefined
      ? { kind: "events", events: window.events, slices: window.slices }
      : { kind: "time", durationMs: window.duration ?? 0, slices: window.slices },
  );

/**
 * Parses `value` with `schema`; a problem throws a `config_invalid` ConsumerError whose lines
 * name their path under `root` (e.g. `["pipeline", "rollout"]`).
 */
export function parseSection<S extends z.ZodType>(
  schema: S,
  value: unknown,
  root: readonly PropertyKey[],
): z.output<S> {
  const parsed = schema.safeParse(value, { error: schemaErrorMap });
  if (!parsed.success) {
    throw new ConsumerError("config_invalid", formatIssues(parsed.error, root).join("\n"), {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
