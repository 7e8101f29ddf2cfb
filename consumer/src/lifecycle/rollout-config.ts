/**
 * The `rollout:` section of a pipeline file: which model versions score which entities.
 *
 * ```yaml
 * rollout:
 *   salt: fraud-2024-06         # @default the pipeline's name; a new salt reshuffles every user
 *   arms:                       # in layout order: ramp arms that sit next to each other
 *     - { name: stable, version: stable, weight: 90 }
 *     - { name: canary, version: 2, weight: 10 }
 *   primary: stable             # @default the first arm; takes a rolled-back arm's users
 *   segments:                   # optional: other weights for some values of an event field
 *     field: channel
 *     weights:
 *       web: { stable: 50, canary: 50 }
 *   shadow: { version: 3, share: 100, deadline_ms: 500, topic: fraud-shadow }
 *   guard_rails: { arm: canary, error_rate: { max: 0.02 }, latency: { max_ms: 250 } }
 *   events_topic: fraud-rollout-events   # optional: each automatic rollback, as JSON
 * ```
 *
 * Weights are percentages to a basis point (0.01 %), summing to 100 per weight set. The pipeline
 * reads it through `config/pipeline-config.ts` (docs/rollouts.md).
 */
import { z } from "zod";
import {
  modelVersion,
  name,
  parseSection,
  percentAsBasisPoints,
  positiveInt,
  topic,
} from "./config-schemas.js";
import { BUCKETS } from "./entity-bucket.js";
import { guardRailsSchema, type GuardRailsConfig } from "./guard-rails.js";

/** A shadow answers within half a second or is dropped: it must never hold the primary's micro-batch. */
export const DEFAULT_SHADOW_DEADLINE_MS = 500;

export interface RolloutArmConfig {
  readonly name: string;
  /** A version number or a label the sidecar resolves. */
  readonly version: number | string;
}

export interface ShadowConfig {
  readonly version: number | string;
  /** Basis points of entities (sticky, by key) whose events the shadow also scores. */
  readonly shareBp: number;
  readonly deadlineMs: number;
  /** Where each shadow prediction is also written, beside the primary's; none when undefined. */
  readonly topic: string | undefined;
}

/** A validated `rollout:` section, every default filled. */
export interface RolloutConfig {
  readonly salt: string;
  readonly arms: readonly RolloutArmConfig[];
  /** Index into `arms` of the arm that takes a rolled-back arm's users. */
  readonly primary: number;
  /** Basis points per arm (index as `arms`), summing to 10,000. */
  readonly weightsBp: readonly number[];
  readonly segments:
    | {
        readonly field: string;
        /** Per segment value, basis points per arm; other values use `weightsBp`. */
        readonly weightsBp: ReadonlyMap<string, readonly number[]>;
      }
    | undefined;
  readonly shadow: ShadowConfig | undefined;
  readonly guardRails: GuardRailsConfig | undefined;
  /** Where each automatic rollback is published, as JSON; none when undefined. */
  readonly eventsTopic: string | undefined;
}

const WEIGHT_SUM = "weights summing to 100 (%)";

function weightSumIssue(weights: readonly unknown[]): string | undefined {
  // A weight that failed its own check was not converted to basis points: it has its message.
  if (!weights.every((weight): weight is number => Number.isInteger(weight))) return undefined;
  const sum = weights.reduce((a, b) => a + b, 0);
  return sum === BUCKETS ? undefined : `expected ${WEIGHT_SUM}, got ${sum / 100}`;
}

const rolloutSchema = z
  .strictObject({
    salt: z.string().min(1).optional(),
    arms: z
      .array(
        z.strictObject({
          name,
          version: modelVersion,
          weight: percentAsBasisPoints,
        }),
      )
      .min(1)
      .max(16),
    primary: z.string().min(1).optional(),
    segments: z
      .strictObject({
        field: z.string().min(1),
        weights: z.record(z.string(), z.record(z.string(), percentAsBasisPoints)),
      })
      .optional(),
    shadow: z
      .strictObject({
        version: modelVersion,
        share: percentAsBasisPoints.default(BUCKETS),
        deadline_ms: positiveInt().default(DEFAULT_SHADOW_DEADLINE_MS),
        topic: topic.optional(),
      })
      .optional(),
    guard_rails: guardRailsSchema.optional(),
    events_topic: topic.optional(),
  })
  .superRefine((rollout, ctx) => {
    const names = rollout.arms.map((arm) => arm.name);
    const known = `an arm name (${names.join(", ")})`;
    names.forEach((armName, i) => {
      if (names.indexOf(armName) !== i) {
        ctx.addIssue({
          code: "custom",
          path: ["arms", i, "name"],
          message: `expected a name no other arm has, got ${JSON.stringify(armName)} again`,
        });
      }
    });
    const sumIssue = weightSumIssue(rollout.arms.map((arm) => arm.weight));
    if (sumIssue !== undefined) ctx.addIssue({ code: "custom", path: ["arms"], message: sumIssue });
    if (rollout.primary !== undefined && !names.includes(rollout.primary)) {
      ctx.addIssue({
        code: "custom",
        path: ["primary"],
        message: `expected ${known}, got ${JSON.stringify(rollout.primary)}`,
      });
    }
    for (const [value, weights] of Object.entries(rollout.segments?.weights ?? {})) {
      const path = ["segments", "weights", value];
      for (const armName of Object.keys(weights)) {
        if (!names.includes(armName)) {
          ctx.addIssue({
            code: "custom",
            path: [...path, armName],
            message: `expected ${known}, got ${JSON.stringify(armName)}`,
          });
        }
      }
      const issue = weightSumIssue(Object.values(weights));
      if (issue !== undefined) ctx.addIssue({ code: "custom", path, message: issue });
    }
    const guarded = rollout.guard_rails?.arm;
    const primary = rollout.primary ?? names[0];
    if (guarded !== undefined && !names.includes(guarded)) {
      ctx.addIssue({
        code: "custom",
        path: ["guard_rails", "arm"],
        message: `expected ${known}, got ${JSON.stringify(guarded)}`,
      });
    } else if (guarded !== undefined && guarded === primary) {
      ctx.addIssue({
        code: "custom",
        path: ["guard_rails", "arm"],
        message: `expected an arm other than the primary ("${primary}"), which it is compared with`,
      });
    }
  });

/** Where the section sits in a pipeline file, for messages. */
export const DEFAULT_ROLLOUT_PATH: readonly PropertyKey[] = ["pipeline", "rollout"];

/**
 * Validates a `rollout:` section and fills defaults; `pipelineName` is the default salt. Throws
 * a `config_invalid` ConsumerError with one line per problem, each naming its path under `root`.
 */
export function parseRolloutConfig(
  value: unknown,
  pipelineName: string,
  root: readonly PropertyKey[] = DEFAULT_ROLLOUT_PATH,
): RolloutConfig {
  const r = parseSection(rolloutSchema, value, root);
  const names = r.arms.map((arm) => arm.name);
  const weightsOf = (weights: Readonly<Record<string, number>>): number[] =>
    names.map((armName) => weights[armName] ?? 0);
  return {
    salt: r.salt ?? pipelineName,
    arms: r.arms.map((arm) => ({ name: arm.name, version: arm.version })),
    primary: r.primary === undefined ? 0 : names.indexOf(r.primary),
    weightsBp: r.arms.map((arm) => arm.weight),
    segments:
      r.segments === undefined
        ? undefined
        : {
            field: r.segments.field,
            weightsBp: new Map(
              Object.entries(r.segments.weights).map(([value, w]) => [value, weightsOf(w)]),
            ),
          },
    shadow:
      r.shadow === undefined
        ? undefined
        : {
            version: r.shadow.version,
            shareBp: r.shadow.share,
            deadlineMs: r.shadow.deadline_ms,
            topic: r.shadow.topic,
          },
    guardRails: r.guard_rails,
    eventsTopic: r.events_topic,
  };
}
