/**
 * At start, a pipeline with a `rollout:` section binds every arm's version (each must fit the
 * features, as `model.version` must without a rollout), binds the shadow's, and puts together the
 * control, the scorer and, when a topic asks for one, a producer for rollback events and shadow
 * records.
 */
import type { Logger } from "@sluice/kit";
import type { PipelineConfig } from "../config/pipeline-config.js";
import type { RolloutConfig } from "../lifecycle/rollout-config.js";
import type { ModelBinding } from "../pipeline/model-binding.js";
import { Scorer } from "../pipeline/scorer.js";
import type { Inference } from "../ports/inference.js";
import type { KafkaClient, KafkaProducer } from "../ports/kafka.js";
import type { RolloutOverrides } from "../ports/rollout-overrides.js";
import { RolloutControl } from "./rollout-control.js";
import { describeWeights } from "./rollout-override.js";
import { RolloutWatcher } from "./rollout-watcher.js";
import { RolloutScorer } from "./rollout-scorer.js";
import { ShadowScorer } from "./shadow-scorer.js";

export interface PreparedRollout {
  readonly control: RolloutControl;
  readonly scorer: RolloutScorer;
  readonly shadow: ShadowScorer | undefined;
  /** The primary arm's binding: what the pipeline reports as its model. */
  readonly binding: ModelBinding;
  /** Topics the rollout writes to, for the pipeline to create with its own. */
  readonly topics: readonly string[];
  /** Waits for shadow calls in flight (at most their deadline), closes the producer. */
  close(): Promise<void>;
}

export interface RolloutDependencies {
  readonly inference: Inference;
  readonly kafka: KafkaClient;
  readonly log: Logger;
  /** Binds one version of the pipeline's model (bindModel, with the pipeline's messages). */
  readonly bind: (version: number | string) => Promise<ModelBinding>;
  /** Where `sluice rollout` changes the weights; without it they are the file's until a restart. */
  readonly overrides?: RolloutOverrides | undefined;
}

/** The topics a rollout section writes to. */
export function rolloutTopics(rollout: RolloutConfig): string[] {
  const topics: string[] = [];
  if (rollout.eventsTopic !== undefined) topics.push(rollout.eventsTopic);
  if (rollout.shadow?.topic !== undefined) topics.push(rollout.shadow.topic);
  return topics;
}

export async function prepareRollout(
  config: PipelineConfig,
  rollout: RolloutConfig,
  width: number,
  deps: RolloutDependencies,
): Promise<PreparedRollout> {
  const { inference, log } = deps;
  const bindings = new Map<string, ModelBinding>();
  for (const arm of rollout.arms) {
    const key = String(arm.version);
    if (!bindings.has(key)) bindings.set(key, await deps.bind(arm.version));
  }
  const primary = bindings.get(String(rollout.arms[rollout.primary]!.version))!;
  const scorers = new Map<string, Scorer>();
  for (const [key, binding] of bindings) {
    scorers.set(key, new Scorer(inference, binding, config.model.deadlineMs));
  }

  const topics = rolloutTopics(rollout);
  let producer: KafkaProducer | undefined;
  if (topics.length > 0) {
    producer = deps.kafka.producer();
    await producer.connect();
  }
  const control = new RolloutControl(rollout, {
    pipeline: config.name,
    model: config.model.name,
    log,
    producer,
  });

  let shadow: ShadowScorer | undefined;
  const shadowConfig = rollout.shadow;
  if (shadowConfig !== undefined) {
    // A shadow that cannot be described now may load later; it must never stop the primary.
    const binding = await deps.bind(shadowConfig.version).catch((error: unknown) => {
      log.warn(
        { version: shadowConfig.version },
        `shadow version ${shadowConfig.version}: ${error instanceof Error ? error.message : String(error)}; its calls will be counted as failures until it serves`,
      );
      return { ...primary, version: shadowConfig.version };
    });
    shadow = new ShadowScorer({
      config: shadowConfig,
      scorer: new Scorer(inference, binding, shadowConfig.deadlineMs, false),
      width,
      control,
      model: config.model.name,
      idField: config.decoder.idField,
      log,
      producer,
    });
  }
  const scorer = new RolloutScorer(control, scorers, width, shadow);
  let watcher: RolloutWatcher | undefined;
  if (deps.overrides !== undefined) {
    watcher = new RolloutWatcher(control, deps.overrides, { pipeline: config.name, log });
    try {
      await watcher.start();
    } catch (error) {
      await watcher.close().catch(() => {});
      await producer?.disconnect().catch(() => {});
      throw error;
    }
  }
  const arms = rollout.arms.map((arm) => `${arm.name} → version ${arm.version}`).join(", ");
  log.info(
    { arms: rollout.arms.map((arm) => arm.name), generation: control.override?.generation ?? null },
    `pipeline "${config.name}": rollout ${describeWeights(rollout, control.router.weights())} (${arms})${shadow === undefined ? "" : `, shadow version ${rollout.shadow?.version}`}${control.override === undefined ? "" : `, override generation ${control.override.generation} by ${control.override.by}`}`,
  );
  return {
    control,
    scorer,
    shadow,
    binding: primary,
    topics,
    close: async () => {
      await watcher?.close();
      await shadow?.drain();
      await producer?.disconnect();
    },
  };
}
