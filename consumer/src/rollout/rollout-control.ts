/**
 * The rollout state of one running pipeline: the `RolloutRouter` in use (one field, replaced in
 * one assignment, so a micro-batch is routed by one layout only) and the canary's guard rails.
 * The scorer reports every arm call here; after each micro-batch the guard rails are judged, and
 * a rollback moves the arm's users to the primary, says so in a log line, counts
 * `sluice_consumer_rollbacks_total` per broken check, and publishes the verdict on
 * `rollout.events_topic` when there is one.
 */
import type { Logger } from "@sluice/kit";
import { errorMessage } from "@sluice/kit";
import {
  GuardRails,
  type ArmObservation,
  type GuardRailVerdict,
} from "../lifecycle/guard-rails.js";
import type { RolloutConfig } from "../lifecycle/rollout-config.js";
import { RolloutRouter } from "../lifecycle/rollout-router.js";
import type { ArmWeight, RolloutMetrics } from "../observability/rollout-metrics.js";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import { BUCKETS } from "../lifecycle/entity-bucket.js";
import type { RolloutOverride } from "./rollout-override.js";

/** The segment label of the default weights in `sluice_consumer_rollout_weight`. */
export const DEFAULT_SEGMENT = "_default";

export interface RolloutControlOptions {
  readonly pipeline: string;
  readonly model: string;
  readonly log: Logger;
  /** Where rollback events go (`rollout.events_topic`); none without. */
  readonly producer?: KafkaProducer | undefined;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The JSON value of a rollback event. */
export interface RollbackEvent {
  readonly type: "rollback";
  readonly pipeline: string;
  readonly model: string;
  readonly arm: string;
  readonly version: string;
  readonly against: string;
  readonly breaches: GuardRailVerdict["breaches"];
  readonly canary: GuardRailVerdict["canary"];
  readonly primary: GuardRailVerdict["primary"];
  readonly window: string;
  /** ISO 8601. */
  readonly at: string;
}

export class RolloutControl {
  readonly config: RolloutConfig;
  #router: RolloutRouter;
  #guardRails: GuardRails | undefined;
  #override: RolloutOverride | undefined;
  /** Told of each automatic rollback (the watcher makes it every consumer's). */
  onRollback: ((router: RolloutRouter, verdict: GuardRailVerdict) => void) | undefined;
  /** Set by the pipeline once its metrics exist (before it consumes). */
  metrics: RolloutMetrics | undefined;
  readonly #options: RolloutControlOptions;
  readonly #now: () => number;

  constructor(config: RolloutConfig, options: RolloutControlOptions) {
    this.config = config;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#router = new RolloutRouter(config);
    this.#guardRails = guardRailsOf(config);
  }

  /** The router of the next micro-batch. */
  get router(): RolloutRouter {
    return this.#router;
  }

  /** The override in effect (`sluice rollout`), undefined while the file's weights apply. */
  get override(): RolloutOverride | undefined {
    return this.#override;
  }

  /**
   * Routes the next micro-batches by `override`'s weights and rollbacks (undefined: the file's),
   * in one assignment. The guard rails start over when their arm comes back from a rollback (a
   * new canary); otherwise their window goes on across weight changes.
   */
  apply(override: RolloutOverride | undefined): void {
    const config = this.config;
    const weighted =
      override?.weightsBp === undefined ? config : { ...config, weightsBp: override.weightsBp };
    const rolledBack = override?.rolledBack ?? [];
    const guarded = this.#guardRails?.arm;
    if (
      guarded !== undefined &&
      this.#router.rolledBack.includes(guarded) &&
      !rolledBack.includes(guarded)
    ) {
      this.#guardRails?.reset();
    }
    this.#router = new RolloutRouter(weighted, rolledBack);
    this.#override = override;
  }

  /** One arm call's outcome, for the guard rails. */
  observe(arm: string, observation: ArmObservation): void {
    this.#guardRails?.observe(arm, observation, this.#now());
  }

  /**
   * Judges the guard rails (once per micro-batch); a new rollback decision rolls the arm back.
   * Returns the verdict when this call rolled back, undefined otherwise.
   */
  evaluate(): GuardRailVerdict | undefined {
    const guardRails = this.#guardRails;
    if (guardRails === undefined) return undefined;
    const verdict = guardRails.evaluate(this.#now());
    this.#report(verdict);
    if (verdict.decision !== "rollback" || verdict.latched) return undefined;
    this.#router = this.#router.withRollback(verdict.arm);
    const version = this.#versionOf(verdict.arm);
    const why = verdict.breaches.map((breach) => breach.message).join("; ");
    this.#options.log.warn(
      {
        arm: verdict.arm,
        version,
        against: verdict.against,
        checks: verdict.breaches.map((b) => b.check),
      },
      `pipeline "${this.#options.pipeline}": rolled back arm "${verdict.arm}" (version ${version}) to "${verdict.against}": ${why}`,
    );
    this.metrics?.rolledBack(
      verdict.arm,
      verdict.breaches.map((breach) => breach.check),
    );
    this.#publish(verdict, version);
    this.onRollback?.(this.#router, verdict);
    return verdict;
  }

  /** The share each arm holds now, per segment, for the weight gauge. */
  weights(): ArmWeight[] {
    const router = this.#router;
    const arms = router.config.arms;
    const weights: ArmWeight[] = [];
    for (const segment of [undefined, ...router.segmentValues]) {
      router.weights(segment).forEach((bp, i) => {
        weights.push({
          segment: segment ?? DEFAULT_SEGMENT,
          arm: arms[i]!.name,
          version: String(arms[i]!.version),
          share: bp / BUCKETS,
        });
      });
    }
    return weights;
  }

  #versionOf(arm: string): string {
    return String(this.#router.config.arms.find((a) => a.name === arm)?.version ?? "");
  }

  /** The guard-rail gauges, from each evaluation. */
  #report(verdict: GuardRailVerdict): void {
    const metrics = this.metrics;
    if (metrics === undefined) return;
    metrics.guardRails.set(verdict.arm, {
      errorRatio: verdict.canary.errorRate,
      latencySeconds: verdict.canary.latencyMs / 1000,
      scorePsi: verdict.scorePsi,
      scoreKs: verdict.scoreKs,
    });
    metrics.guardRails.set(verdict.against, {
      errorRatio: verdict.primary.errorRate,
      latencySeconds: verdict.primary.latencyMs / 1000,
      scorePsi: Number.NaN,
      scoreKs: Number.NaN,
    });
  }

  /** Publishes the rollback event; a failure is logged, never retried into the hot path. */
  #publish(verdict: GuardRailVerdict, version: string): void {
    const topic = this.#router.config.eventsTopic;
    const producer = this.#options.producer;
    if (topic === undefined || producer === undefined) return;
    const event: RollbackEvent = {
      type: "rollback",
      pipeline: this.#options.pipeline,
      model: this.#options.model,
      arm: verdict.arm,
      version,
      against: verdict.against,
      breaches: verdict.breaches,
      canary: verdict.canary,
      primary: verdict.primary,
      window: verdict.window.describe,
      at: new Date(this.#now()).toISOString(),
    };
    const record: OutputRecord = {
      topic,
      key: Buffer.from(this.#options.pipeline),
      value: JSON.stringify(event),
      headers: {},
    };
    producer.send([record]).catch((error: unknown) => {
      this.#options.log.error(
        { topic },
        `pipeline "${this.#options.pipeline}": cannot publish the rollback of "${verdict.arm}" to ${topic}: ${errorMessage(error)}`,
      );
    });
  }
}

function guardRailsOf(config: RolloutConfig): GuardRails | undefined {
  const guard = config.guardRails;
  if (guard === undefined) return undefined;
  return new GuardRails({ ...guard, against: config.arms[config.primary]!.name });
}
