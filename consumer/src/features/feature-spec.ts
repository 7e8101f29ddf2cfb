/**
 * The `features:` section of a pipeline YAML: which field identifies the entity, which gives the
 * event time, and the ordered list of features that make one FP32 row. The schema checks shape
 * and meaning (a string field needs an encoding, a window sum needs a numeric field, names are
 * unique, …) and returns a normalized spec with durations in milliseconds and every output named,
 * so the extractor never re-validates.
 *
 * ```yaml
 * features:
 *   entity_key: user_id
 *   event_time: timestamp
 *   vector:
 *     - { name: amount_log, field: amount, transform: log1p }
 *     - { name: tx_count_5m, window: { agg: count, over: 5m } }
 *     - { name: channel, field: channel, type: string,
 *         transform: { one_hot: { vocabulary: [web, mobile, pos] } } }
 *     - name: country_mismatch
 *       lookup: { key: "user:{user_id}", field: home_country,
 *                 compare: { op: mismatch, field: country }, missing: null, null_value: 0.5 }
 * ```
 *
 * A lookup's `missing` says what a missing record means: `default` (with `default:`), `dlq`, or
 * `null` (each output written as `null_value`, @default 0); without either key it is `null`.
 */
import { z } from "zod";
import { ConsumerError } from "../errors.js";
import type { FeatureSpec } from "./feature-definition.js";
import { formatIssues, schemaErrorMap } from "@sluice/kit";
import { normalizeSpec, type Issue } from "./spec-meaning.js";
import { rawFeatures } from "./spec-yaml.js";

export * from "./feature-definition.js";
export { parseDuration } from "./spec-yaml.js";

/**
 * The `features:` section as a zod schema that validates and normalizes. Embed it in a pipeline
 * schema to get paths from the pipeline root; parse with `schemaErrorMap` for readable messages.
 */
export const featureSpecSchema = rawFeatures.transform((raw, ctx): FeatureSpec => {
  const issues: Issue[] = [];
  const spec = normalizeSpec(raw, issues);
  for (const issue of issues) {
    ctx.addIssue({ code: "custom", path: [...issue.path], message: issue.message });
  }
  return spec ?? z.NEVER;
});

/** Where the section sits in a pipeline YAML, for error messages. */
export const DEFAULT_SPEC_PATH: readonly string[] = ["pipeline", "features"];

/**
 * Validates the parsed `features:` section. Throws a `config_invalid` ConsumerError with one line
 * per problem, each naming its path under `root` (@default pipeline.features).
 */
export function parseFeatureSpec(
  section: unknown,
  root: readonly PropertyKey[] = DEFAULT_SPEC_PATH,
): FeatureSpec {
  const parsed = featureSpecSchema.safeParse(section, { error: schemaErrorMap });
  if (parsed.success) return parsed.data;
  throw new ConsumerError("config_invalid", formatIssues(parsed.error, root).join("\n"), {
    cause: parsed.error,
  });
}
