/**
 * The value `sluice rollout` writes for a running pipeline (ports/rollout-overrides.ts), read by
 * every consumer of it each second:
 *
 * ```json
 * { "generation": 4, "weights": { "stable": 80, "canary": 20 }, "rolled_back": [],
 *   "by": "sluice rollout", "at": "2026-12-07T00:10:00.000Z", "reason": "ramp 2/5" }
 * ```
 *
 * `weights` replace the file's `rollout.arms[].weight` (percentages, summing to 100; an arm not
 * named gets 0); segments keep the file's weights. `rolled_back` arms send their entities to the
 * primary everywhere, segments included. `generation` grows by one per write.
 */
import { z } from "zod";
import { BUCKETS } from "../lifecycle/entity-bucket.js";
import { parseSection, percentAsBasisPoints } from "../lifecycle/config-schemas.js";
import type { RolloutConfig } from "../lifecycle/rollout-config.js";
import { ConsumerError } from "../errors.js";

export interface RolloutOverride {
  readonly generation: number;
  /** Basis points per arm (the config's order); undefined: the file's weights. */
  readonly weightsBp: readonly number[] | undefined;
  readonly rolledBack: readonly string[];
  /** Who wrote it: `sluice rollout`, or `guard-rails` for an automatic rollback. */
  readonly by: string;
  /** ISO 8601. */
  readonly at: string;
  readonly reason: string | undefined;
}

const overrideSchema = z.strictObject({
  generation: z.number().int().min(1),
  weights: z.record(z.string(), percentAsBasisPoints).optional(),
  rolled_back: z.array(z.string()).default([]),
  by: z.string().min(1),
  at: z.string().min(1),
  reason: z.string().optional(),
});

const ROOT = ["rollout override"];

/** Parses and checks an override against the pipeline's arms; throws `config_invalid`. */
export function parseRolloutOverride(text: string, config: RolloutConfig): RolloutOverride {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConsumerError(
      "config_invalid",
      `rollout override: expected JSON, got ${text.slice(0, 40)}`,
      {
        cause: error,
      },
    );
  }
  const o = parseSection(overrideSchema, json, ROOT);
  const names = config.arms.map((arm) => arm.name);
  const problems: string[] = [];
  const known = `an arm name (${names.join(", ")})`;
  for (const name of [...Object.keys(o.weights ?? {}), ...o.rolled_back]) {
    if (!names.includes(name)) problems.push(`rollout override: expected ${known}, got "${name}"`);
  }
  const primary = names[config.primary]!;
  if (o.rolled_back.includes(primary)) {
    problems.push(`rollout override: cannot roll back the primary arm "${primary}"`);
  }
  let weightsBp: number[] | undefined;
  if (o.weights !== undefined) {
    const weights = o.weights;
    weightsBp = names.map((name) => weights[name] ?? 0);
    const sum = weightsBp.reduce((a, b) => a + b, 0);
    if (sum !== BUCKETS) {
      problems.push(
        `rollout override.weights: expected weights summing to 100 (%), got ${sum / 100}`,
      );
    }
  }
  if (problems.length > 0) throw new ConsumerError("config_invalid", problems.join("\n"));
  return {
    generation: o.generation,
    weightsBp,
    rolledBack: o.rolled_back,
    by: o.by,
    at: o.at,
    reason: o.reason,
  };
}

/** The JSON text of an override. */
export function formatRolloutOverride(override: RolloutOverride, config: RolloutConfig): string {
  const weightsBp = override.weightsBp;
  return JSON.stringify({
    generation: override.generation,
    ...(weightsBp === undefined
      ? {}
      : {
          weights: Object.fromEntries(
            config.arms.map((arm, i) => [arm.name, (weightsBp[i] ?? 0) / 100]),
          ),
        }),
    rolled_back: override.rolledBack,
    by: override.by,
    at: override.at,
    ...(override.reason === undefined ? {} : { reason: override.reason }),
  });
}

/** `stable 80 %, canary 20 %`. */
export function describeWeights(config: RolloutConfig, weightsBp: readonly number[]): string {
  return config.arms.map((arm, i) => `${arm.name} ${(weightsBp[i] ?? 0) / 100} %`).join(", ");
}
