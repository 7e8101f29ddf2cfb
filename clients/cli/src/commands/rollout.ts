/**
 * `sluice rollout`: changes the weights of a running pipeline's rollout without a restart. It
 * writes the pipeline's override (a small value in the pipeline's Redis, which every consumer of
 * the pipeline reads each second, see docs/rollouts.md): `set` to new weights, at once or in a
 * gradual ramp, `rollback` every arm to the primary at once, `reset` back to the file's weights,
 * `status` to see what holds now. Each write names the generation it replaces, so a ramp stops as
 * soon as anything else (a rollback by hand or by the guard rails) changed the weights between its
 * steps.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Option, type Command } from "commander";
import { parsePositiveInteger, positiveDuration } from "../flags/parsers.js";
import {
  BUCKETS,
  ConsumerError,
  describeWeights,
  formatRolloutOverride,
  parseRolloutOverride,
  RedisRolloutOverrides,
  type PipelineConfig,
  type RolloutConfig,
  type RolloutOverride,
} from "@sluice/consumer";
import { UsageError, runAction } from "../output/exit.js";
import { print } from "../output/print.js";
import { loadConfig } from "./consume.js";

/** A ramp without --steps: ten moves, small enough that each is a modest change of traffic. */
export const DEFAULT_RAMP_STEPS = 10;
/** A rollback re-reads and writes again this often when another writer comes first. */
const ROLLBACK_ATTEMPTS = 10;
/** Who the override says wrote it. */
const BY = "sluice rollout";

interface RolloutFlags {
  config: string;
  redisUrl?: string;
}

interface SetFlags extends RolloutFlags {
  ramp?: number;
  steps: number;
}

/** `canary=20` → ["canary", 2000] (basis points). */
export function parseAssignment(text: string): [string, number] {
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)=(\d+(?:\.\d{1,2})?)$/.exec(text);
  const percent = Number(match?.[2]);
  if (match === null || percent > 100) {
    throw new UsageError(
      `expected ARM=PERCENT like canary=20 (0 to 100, in steps of 0.01), got "${text}"`,
    );
  }
  return [match[1]!, Math.round(percent * 100)];
}

/**
 * The weights (basis points, by arm) after `assignments`: the arms named get theirs, the others
 * keep `current`'s, and the primary takes what is left; with the primary named too, the weights
 * must sum to 100.
 */
export function targetWeights(
  config: RolloutConfig,
  current: readonly number[],
  assignments: readonly [string, number][],
): number[] {
  const names = config.arms.map((arm) => arm.name);
  const target = [...current];
  const named = new Set<number>();
  for (const [name, bp] of assignments) {
    const i = names.indexOf(name);
    if (i < 0) throw new UsageError(`no arm "${name}": the arms are ${names.join(", ")}`);
    target[i] = bp;
    named.add(i);
  }
  const others = target.reduce((sum, bp, i) => (i === config.primary ? sum : sum + bp), 0);
  if (named.has(config.primary)) {
    if (others + target[config.primary]! !== BUCKETS) {
      throw new UsageError(
        `expected weights summing to 100 (%), got ${(others + target[config.primary]!) / 100}: ${describeWeights(config, target)}`,
      );
    }
    return target;
  }
  if (others > BUCKETS) {
    throw new UsageError(
      `the arms other than the primary "${names[config.primary]}" would hold ${others / 100} %, more than 100`,
    );
  }
  target[config.primary] = BUCKETS - others;
  return target;
}

/**
 * The steps of a ramp from `from` to `to` (basis points by arm), `steps` of them, the last one
 * `to` exactly: each arm moves linearly, rounded to a basis point, the primary takes the rounding.
 */
export function rampSteps(
  from: readonly number[],
  to: readonly number[],
  steps: number,
  primary: number,
): number[][] {
  return Array.from({ length: steps }, (_, k) => {
    const t = (k + 1) / steps;
    const weights = from.map((bp, i) => Math.round(bp + (to[i]! - bp) * t));
    const rest = weights.reduce((sum, bp, i) => (i === primary ? sum : sum + bp), 0);
    weights[primary] = BUCKETS - rest;
    return weights;
  });
}

interface Opened {
  readonly config: PipelineConfig;
  readonly rollout: RolloutConfig;
  readonly overrides: RedisRolloutOverrides;
}

async function open(flags: RolloutFlags): Promise<Opened> {
  const config = await loadConfig({ config: flags.config, redisUrl: flags.redisUrl });
  const rollout = config.rollout;
  if (rollout === undefined) {
    throw new UsageError(`${flags.config}: pipeline "${config.name}" has no rollout: section`);
  }
  const overrides = await RedisRolloutOverrides.connect(
    config.redis.url,
    config.redis.keyPrefix,
    config.name,
  );
  return { config, rollout, overrides };
}

/** The override now, or undefined; one that no consumer would accept is an error. */
async function readOverride(opened: Opened): Promise<RolloutOverride | undefined> {
  const text = await opened.overrides.read();
  if (text === null) return undefined;
  try {
    return parseRolloutOverride(text, opened.rollout);
  } catch (error) {
    if (ConsumerError.is(error, "config_invalid")) {
      throw new Error(
        `${opened.overrides.key} holds an override the consumers refuse (${error.message}); \`sluice rollout reset\` removes it`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The weights a consumer applies for `override` (basis points by arm), rollbacks included. */
function effective(rollout: RolloutConfig, override: RolloutOverride | undefined): number[] {
  const weights = [...(override?.weightsBp ?? rollout.weightsBp)];
  for (const name of override?.rolledBack ?? []) {
    const i = rollout.arms.findIndex((arm) => arm.name === name);
    weights[rollout.primary]! += weights[i]!;
    weights[i] = 0;
  }
  return weights;
}

/** Writes `next` over `current`; false when another writer came first. */
async function write(
  opened: Opened,
  current: RolloutOverride | undefined,
  next: Omit<RolloutOverride, "generation" | "by" | "at">,
): Promise<RolloutOverride | undefined> {
  const override: RolloutOverride = {
    ...next,
    generation: (current?.generation ?? 0) + 1,
    by: BY,
    at: new Date().toISOString(),
  };
  const text = formatRolloutOverride(override, opened.rollout);
  const written = await opened.overrides.replace(
    current?.generation ?? null,
    text,
    override.generation,
  );
  return written ? override : undefined;
}

function changedUnderUs(opened: Opened, after: string): Error {
  return new Error(
    `the rollout of "${opened.config.name}" changed ${after} (someone else wrote ${opened.overrides.key}); run \`sluice rollout status\` and decide again`,
  );
}

async function withOpened(flags: RolloutFlags, body: (opened: Opened) => Promise<void>) {
  const opened = await open(flags);
  try {
    await body(opened);
  } finally {
    await opened.overrides.close();
  }
}

function addCommon(command: Command): Command {
  return command
    .requiredOption("--config <file>", "the pipeline YAML file (its rollout: section and Redis)")
    .addOption(new Option("--redis-url <url>", "Redis, instead of the file's").env("REDIS_URL"));
}

export function registerRollout(program: Command): void {
  const rollout = program
    .command("rollout")
    .description(
      "change a running pipeline's rollout weights without a restart: set (with a gradual --ramp), rollback, reset, status",
    )
    .addHelpText(
      "after",
      `
The pipeline file's rollout: section names the arms; these commands change their weights in the
pipeline's Redis, where every consumer of the pipeline reads them each second (docs/rollouts.md).
Examples:
  $ sluice rollout status --config examples/pipelines/fraud-canary.yaml
  $ sluice rollout set --config examples/pipelines/fraud-canary.yaml canary=50 --ramp 30s --steps 3
  $ sluice rollout rollback --config examples/pipelines/fraud-canary.yaml
  $ sluice rollout reset --config examples/pipelines/fraud-canary.yaml`,
    );

  addCommon(
    rollout
      .command("status")
      .description(
        "the file's weights, the override in force (who, when, why) and the weights now",
      ),
  ).action((flags: RolloutFlags, self: Command) =>
    runAction(self, () =>
      withOpened(flags, async (opened) => {
        const { rollout: config } = opened;
        const override = await readOverride(opened);
        const lines = [
          `pipeline ${opened.config.name} (${opened.overrides.key})`,
          `file:     ${describeWeights(config, config.weightsBp)}`,
          override === undefined
            ? "override: none"
            : `override: generation ${override.generation} by ${override.by} at ${override.at}${override.reason === undefined ? "" : ` (${override.reason})`}${override.rolledBack.length === 0 ? "" : `, rolled back: ${override.rolledBack.join(", ")}`}`,
          `now:      ${describeWeights(config, effective(config, override))}`,
        ];
        print(self, lines.join("\n"));
      }),
    ),
  );

  addCommon(
    rollout
      .command("set")
      .description("set arms' weights (the primary takes the rest), at once or in a --ramp")
      .argument("<arm=percent...>", "new weights, e.g. canary=20")
      .option(
        "--ramp <duration>",
        'move there in equal steps over this long, e.g. "10m" (default: at once)',
        positiveDuration('"10m" or "30s"'),
      )
      .option("--steps <n>", "steps of the ramp", parsePositiveInteger, DEFAULT_RAMP_STEPS),
  )
    .addHelpText(
      "after",
      `
Arms not named keep their weight; the primary arm takes what is left. A ramp writes each step as
the next generation of the override and stops, exit 1, if anything else wrote it in between (a
rollback by hand or by the guard rails): it never overrides a rollback. Ctrl-C leaves the weights
at the last step written. Arms are rolled back no more after a set: it is a new decision.
Examples:
  $ sluice rollout set --config examples/pipelines/fraud-canary.yaml canary=20
  $ sluice rollout set --config examples/pipelines/fraud-canary.yaml canary=100 --ramp 3s --steps 3`,
    )
    .action((assignments: string[], flags: SetFlags, self: Command) =>
      runAction(self, () =>
        withOpened(flags, async (opened) => {
          const { rollout: config } = opened;
          const parsed = assignments.map(parseAssignment);
          let current = await readOverride(opened);
          const from = effective(config, current);
          const target = targetWeights(config, from, parsed);
          const steps =
            flags.ramp === undefined
              ? [target]
              : rampSteps(from, target, flags.steps, config.primary);
          const interval =
            flags.ramp === undefined ? 0 : flags.ramp / Math.max(1, steps.length - 1);
          for (const [k, weightsBp] of steps.entries()) {
            if (k > 0) await sleep(interval);
            const reason = steps.length === 1 ? "set" : `ramp step ${k + 1}/${steps.length}`;
            const written = await write(opened, current, { weightsBp, rolledBack: [], reason });
            if (written === undefined) {
              throw changedUnderUs(
                opened,
                k === 0 ? "while this command read it" : `after step ${k} of the ramp`,
              );
            }
            current = written;
            print(
              self,
              `${opened.config.name}: ${describeWeights(config, weightsBp)} (generation ${written.generation}, ${reason})`,
            );
          }
        }),
      ),
    );

  addCommon(
    rollout
      .command("rollback")
      .description("send every arm's entities to the primary arm, at once"),
  )
    .addHelpText(
      "after",
      `
Every consumer of the pipeline routes to the primary within a second; a ramp in progress stops.
\`sluice rollout set\` (a new decision) or \`reset\` (the file's weights) undoes it.
Examples:
  $ sluice rollout rollback --config examples/pipelines/fraud-canary.yaml`,
    )
    .action((flags: RolloutFlags, self: Command) =>
      runAction(self, () =>
        withOpened(flags, async (opened) => {
          const { rollout: config } = opened;
          const primary = config.arms[config.primary]!;
          // Read and write until the write lands: a rollback must win over a ramp's next step.
          for (let attempt = 1; ; attempt++) {
            const current = await readOverride(opened);
            const written = await write(opened, current, {
              weightsBp: current?.weightsBp,
              rolledBack: config.arms.filter((_, i) => i !== config.primary).map((a) => a.name),
              reason: "rollback",
            });
            if (written === undefined) {
              // Another writer between our read and write; a few in a row is not a ramp's pace.
              if (attempt < ROLLBACK_ATTEMPTS) continue;
              throw changedUnderUs(
                opened,
                `${ROLLBACK_ATTEMPTS} times while this command wrote it`,
              );
            }
            print(
              self,
              `${opened.config.name}: every entity to "${primary.name}" (version ${primary.version}) (generation ${written.generation})`,
            );
            return;
          }
        }),
      ),
    );

  addCommon(
    rollout
      .command("reset")
      .description("remove the override: the pipeline file's weights apply again"),
  ).action((flags: RolloutFlags, self: Command) =>
    runAction(self, () =>
      withOpened(flags, async (opened) => {
        await opened.overrides.clear();
        const config = opened.rollout;
        print(
          self,
          `${opened.config.name}: the file's weights, ${describeWeights(config, config.weightsBp)}`,
        );
      }),
    ),
  );
}
