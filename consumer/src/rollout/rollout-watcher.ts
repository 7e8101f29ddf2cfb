/**
 * Keeps a running pipeline's rollout in step with its override (`sluice rollout`, see
 * ports/rollout-overrides.ts): reads it before the first micro-batch and then every second, and
 * applies a new value in one assignment of the router, so a micro-batch is routed by one layout.
 * An automatic rollback is written back as the next generation, so every consumer of the pipeline
 * follows it (and a ramp in progress stops, since its next write expects the generation it wrote).
 *
 * Polling, not a subscription: one HGET a second per consumer is nothing to Redis, works through
 * every proxy and failover, and a consumer that was disconnected simply reads the value of the
 * moment when it is back. A change reaches every consumer within a second; a user's events stay
 * on one partition (keyed by user), which one consumer owns, so a user never sees two layouts in
 * one moment.
 */
import { errorMessage, type Logger } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import type { GuardRailVerdict } from "../lifecycle/guard-rails.js";
import type { RolloutRouter } from "../lifecycle/rollout-router.js";
import type { RolloutOverrides } from "../ports/rollout-overrides.js";
import type { RolloutControl } from "./rollout-control.js";
import {
  describeWeights,
  formatRolloutOverride,
  parseRolloutOverride,
} from "./rollout-override.js";

/** How often consumers read the override: a `sluice rollout` reaches them all within this. */
export const DEFAULT_ROLLOUT_POLL_MS = 1_000;

export class RolloutWatcher {
  readonly #control: RolloutControl;
  readonly #overrides: RolloutOverrides;
  readonly #log: Logger;
  readonly #pipeline: string;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  /** The text last read (applied, or refused and logged once). */
  #last: string | null = null;
  #failing = false;

  constructor(
    control: RolloutControl,
    overrides: RolloutOverrides,
    options: { readonly pipeline: string; readonly log: Logger; readonly pollMs?: number },
  ) {
    this.#control = control;
    this.#overrides = overrides;
    this.#log = options.log;
    this.#pipeline = options.pipeline;
    this.#pollMs = options.pollMs ?? DEFAULT_ROLLOUT_POLL_MS;
    control.onRollback = (router, verdict) => void this.#persistRollback(router, verdict);
  }

  /** Reads the override once (a failure rejects: the pipeline does not start), then polls. */
  async start(): Promise<void> {
    this.#apply(await this.#overrides.read());
    this.#timer = setInterval(() => {
      this.#polling ??= this.#poll().finally(() => (this.#polling = undefined));
    }, this.#pollMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#polling;
    await this.#overrides.close();
  }

  async #poll(): Promise<void> {
    let text: string | null;
    try {
      text = await this.#overrides.read();
    } catch (error) {
      if (!this.#failing) {
        this.#log.warn(
          {},
          `pipeline "${this.#pipeline}": cannot read the rollout override: ${errorMessage(error)}; routing as before`,
        );
      }
      this.#failing = true;
      return;
    }
    this.#failing = false;
    this.#apply(text);
  }

  #apply(text: string | null): void {
    if (text === this.#last) return;
    this.#last = text;
    const config = this.#control.config;
    if (text === null) {
      if (this.#control.override === undefined) return;
      this.#control.apply(undefined);
      this.#log.info(
        {},
        `pipeline "${this.#pipeline}": rollout back to the file's weights (${describeWeights(config, config.weightsBp)})`,
      );
      return;
    }
    try {
      const override = parseRolloutOverride(text, config);
      this.#control.apply(override);
      const rolledBack =
        override.rolledBack.length === 0 ? "" : `, rolled back: ${override.rolledBack.join(", ")}`;
      this.#log.info(
        { generation: override.generation, by: override.by },
        `pipeline "${this.#pipeline}": rollout weights now ${describeWeights(config, this.#control.router.weights())}${rolledBack} (generation ${override.generation} by ${override.by}${override.reason === undefined ? "" : `: ${override.reason}`})`,
      );
    } catch (error) {
      const why = ConsumerError.from(error).message;
      this.#log.error(
        {},
        `pipeline "${this.#pipeline}": rollout override refused, routing as before: ${why}`,
      );
    }
  }

  /** The rollback as the next generation; if another writer came first, theirs stands. */
  async #persistRollback(router: RolloutRouter, verdict: GuardRailVerdict): Promise<void> {
    const current = this.#control.override;
    const generation = (current?.generation ?? 0) + 1;
    const override = {
      generation,
      weightsBp: current?.weightsBp,
      rolledBack: router.rolledBack,
      by: "guard-rails",
      at: new Date().toISOString(),
      reason: verdict.breaches.map((breach) => breach.message).join("; "),
    };
    const text = formatRolloutOverride(override, this.#control.config);
    try {
      if (await this.#overrides.replace(current?.generation ?? null, text, generation)) {
        this.#last = text;
        this.#control.apply(override);
      }
    } catch (error) {
      this.#log.error(
        {},
        `pipeline "${this.#pipeline}": cannot record the rollback of "${verdict.arm}" for the other consumers: ${errorMessage(error)}`,
      );
    }
  }
}
