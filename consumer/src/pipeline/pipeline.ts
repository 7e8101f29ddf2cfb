/**
 * A running pipeline: one consumer group member that turns input events into predictions.
 * `Pipeline.start` checks everything it can before consuming (hook modules load, the model's
 * input fits the features, Kafka and the sidecar answer) and refuses to start otherwise;
 * `stop()` finishes the micro-batch in hand, commits it, and leaves the group.
 */
import { errorMessage, silentLogger, type Logger } from "@sluice/kit";
import type { PipelineConfig } from "../config/pipeline-config.js";
import { ConsumerError } from "../errors.js";
import { FeatureExtractor } from "../features/feature-extractor.js";
import { ConsumerMetrics } from "../observability/consumer-metrics.js";
import type { PipelineMetrics } from "../observability/pipeline-metrics.js";
import type { PipelineStats } from "../observability/pipeline-observer.js";
import type { FeatureStore } from "../ports/feature-store.js";
import type { Inference } from "../ports/inference.js";
import type { KafkaClient, KafkaConsumer } from "../ports/kafka.js";
import type { RolloutOverrides } from "../ports/rollout-overrides.js";
import { AtLeastOnceDelivery, ExactlyOnceDelivery, type Delivery } from "./delivery.js";
import { MicroBatchProcessor } from "./micro-batch.js";
import { bindModel, type ModelBinding } from "./model-binding.js";
import { coalescedInference, coalescedStore } from "./coalesced-ports.js";
import { PartitionHandler } from "./partition-handler.js";
import { Scorer } from "./scorer.js";
import { RolloutMetrics } from "../observability/rollout-metrics.js";
import { prepareRollout, rolloutTopics, type PreparedRollout } from "../rollout/prepare-rollout.js";
import type { LabelJoinStore } from "../ports/label-join.js";
import type { RetrainingSink } from "../monitoring/model-monitor.js";
import { LabelConsumer } from "../monitoring/label-consumer.js";
import {
  monitoringTopics,
  prepareMonitoring,
  type PreparedMonitoring,
} from "../monitoring/prepare-monitoring.js";

/**
 * Partitions handled at once by one member. Each sends its own ModelInfer, and the sidecar's
 * dynamic batcher merges concurrent ones, so a few keep it busy without one slow partition
 * holding up the others.
 */
export const DEFAULT_PARTITION_CONCURRENCY = 8;
/**
 * How long an idle fetch waits at the broker for new data. It also bounds how late a resumed
 * partition is fetched again while every partition is paused.
 */
export const DEFAULT_FETCH_MAX_WAIT_MS = 250;

export interface PipelineDependencies {
  readonly kafka: KafkaClient;
  readonly inference: Inference;
  readonly store: FeatureStore;
  /** @default dropped */
  readonly log?: Logger;
  /** Called last by `stop()`: closes what the caller made for this pipeline. */
  readonly release?: () => Promise<void>;
  /** Where the pipeline's Prometheus series go. @default a registry of its own */
  readonly metrics?: ConsumerMetrics;
  /** With a `rollout:` section: where `sluice rollout` changes its weights (closed by `stop()`). */
  readonly rolloutOverrides?: RolloutOverrides;
  /** With `monitoring.labels`: where predictions and labels meet (closed by `stop()`). */
  readonly labelJoin?: LabelJoinStore;
  /** With `retraining.webhook`: POSTs each retraining event. */
  readonly retrainingWebhook?: RetrainingSink;
}

export class Pipeline {
  readonly config: PipelineConfig;
  readonly binding: ModelBinding;
  /** Its observer: the counts behind `stats` and its Prometheus series (`metrics.registry` renders them). */
  readonly metrics: PipelineMetrics;
  /** Settles once the pipeline has stopped: resolves after `stop()`, rejects with a fatal error. */
  readonly stopped: Promise<void>;
  readonly #consumer: KafkaConsumer;
  readonly #delivery: Delivery;
  readonly #handler: PartitionHandler;
  readonly #deps: PipelineDependencies;
  readonly #log: Logger;
  readonly #rollout: PreparedRollout | undefined;
  readonly #monitoring: PreparedMonitoring | undefined;
  #labels: LabelConsumer | undefined;
  #settle!: (error?: ConsumerError) => void;
  #stopping: Promise<void> | undefined;
  #fatal: ConsumerError | undefined;

  private constructor(
    config: PipelineConfig,
    binding: ModelBinding,
    consumer: KafkaConsumer,
    delivery: Delivery,
    processor: MicroBatchProcessor,
    deps: PipelineDependencies,
    rollout: PreparedRollout | undefined,
    monitoring: PreparedMonitoring | undefined,
  ) {
    this.config = config;
    this.binding = binding;
    this.metrics = (deps.metrics ?? new ConsumerMetrics()).forPipeline({
      pipeline: config.name,
      model: config.model.name,
      topics: config.topics,
    });
    const store = deps.store;
    if (store.held !== undefined) this.metrics.featureState = () => store.held!();
    this.#rollout = rollout;
    if (rollout !== undefined) {
      const control = rollout.control;
      const metrics = this.metrics;
      control.metrics = new RolloutMetrics(
        () => control.weights(),
        (version) => metrics.shadowDifference(version),
      );
      metrics.rollout = control.metrics;
    }
    this.#monitoring = monitoring;
    this.metrics.monitoring = monitoring?.metrics;
    this.#consumer = consumer;
    this.#delivery = delivery;
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
    this.stopped = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Unobserved rejection must not crash a process that only calls stop().
    this.stopped.catch(() => {});
    this.#handler = new PartitionHandler(
      {
        maxEvents: config.batch.maxEvents,
        lingerMs: config.batch.lingerMs,
        retry: config.retry,
        trace: { consumerGroup: config.kafka.groupId, model: config.model.name },
      },
      {
        process: (topic, partition, records, trace) =>
          processor.process(topic, partition, records, trace),
        delivery,
        consumer,
        log: this.#log,
        observer: this.metrics,
        onFatal: (error) => this.#fail(error),
        ...(monitoring === undefined ? {} : { commitHook: monitoring.commitHook }),
      },
    );
  }

  /** Label messages consumed and committed (`monitoring.labels`); 0 without a label topic. */
  get labelsConsumed(): number {
    return this.#labels?.labels ?? 0;
  }

  /** What it has done so far, read from the same counts as its metrics; a snapshot. */
  get stats(): PipelineStats {
    return this.metrics.stats;
  }

  /** Checks the setup, joins the group and starts consuming. */
  static async start(config: PipelineConfig, deps: PipelineDependencies): Promise<Pipeline> {
    const log = deps.log ?? silentLogger;
    const { processor, binding, rollout, monitoring } = await prepareMicroBatches(
      config,
      deps,
      log,
    );
    try {
      await ensureTopics(config, deps.kafka, log);
    } catch (error) {
      await rollout?.close().catch(() => {});
      await monitoring?.close().catch(() => {});
      throw error;
    }
    const consumer = deps.kafka.consumer({
      groupId: config.kafka.groupId,
      groupInstanceId: config.kafka.groupInstanceId,
      maxWaitTimeMs: DEFAULT_FETCH_MAX_WAIT_MS,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    });
    const delivery = await openDelivery(config, deps.kafka, consumer);
    const pipeline = new Pipeline(
      config,
      binding,
      consumer,
      delivery,
      processor,
      deps,
      rollout,
      monitoring,
    );
    try {
      await pipeline.#join();
      await pipeline.#consumeLabels();
    } catch (error) {
      await pipeline.stop().catch(() => {});
      throw error;
    }
    log.info(
      {
        model: binding.model,
        delivery: config.delivery,
        client: config.kafka.client,
        groupInstanceId: config.kafka.groupInstanceId ?? null,
      },
      `pipeline "${config.name}" consuming ${config.topics.input}`,
    );
    return pipeline;
  }

  /** Connects, joins the group and starts handling its partitions' batches. */
  async #join(): Promise<void> {
    const consumer = this.#consumer;
    await consumer.connect();
    consumer.onCrash((error) =>
      this.#fail(
        new ConsumerError("internal", `Kafka consumer crashed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    consumer.onAssignment((assigned) => {
      this.#delivery.assigned(assigned);
      // The state of partitions that moved away is their new owner's to write now.
      const input = this.config.topics.input;
      this.#deps.store.assigned?.(
        assigned.flatMap((p) => (p.topic === input ? [p.partition] : [])),
      );
      this.metrics.assigned(assigned);
      this.#log.info(
        {},
        `assigned ${assigned.map((p) => `${p.topic}[${p.partition}]`).join(", ") || "nothing"}`,
      );
    });
    await consumer.subscribe(this.config.topics.input);
    await consumer.run({
      concurrency: DEFAULT_PARTITION_CONCURRENCY,
      eachBatch: this.#handler.handle,
    });
  }

  /** With `monitoring.labels`: the label topic's consumer, in the same process. */
  async #consumeLabels(): Promise<void> {
    const labels = this.config.monitoring?.labels;
    const labelJoin = this.#deps.labelJoin;
    const monitoring = this.#monitoring;
    // prepareMonitoring refused a label section without a store.
    if (labels === undefined || monitoring === undefined || labelJoin === undefined) return;
    this.#labels = await LabelConsumer.start(this.config, labels, {
      kafka: this.#deps.kafka,
      labelJoin,
      monitor: monitoring.monitor,
      metrics: monitoring.metrics,
      log: this.#log,
      onFatal: (error) => this.#fail(error),
    });
  }

  /**
   * Finishes the micro-batch in hand (its records delivered, its offset committed), leaves the
   * group and closes every client. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (what: () => Promise<void>): Promise<void> => {
      try {
        await what();
      } catch (error) {
        errors.push(error);
      }
    };
    const labels = this.#labels;
    if (labels !== undefined) await attempt(() => labels.stop());
    // The consumer's disconnect waits for the batch in hand; the handler starts no new micro-batch.
    await attempt(() => this.#consumer.disconnect());
    this.#handler.halt();
    this.metrics.stopped();
    await attempt(() => this.#delivery.close());
    const rollout = this.#rollout;
    if (rollout !== undefined) await attempt(() => rollout.close());
    const monitoring = this.#monitoring;
    if (monitoring !== undefined) await attempt(() => monitoring.close());
    const labelJoin = this.#deps.labelJoin;
    if (labelJoin !== undefined) await attempt(() => labelJoin.close());
    if (this.#deps.release !== undefined) await attempt(this.#deps.release);
    this.#log.info({ ...this.stats }, `pipeline "${this.config.name}" stopped`);
    if (this.#fatal !== undefined) this.#settle(this.#fatal);
    else if (errors.length > 0) this.#settle(ConsumerError.from(errors[0], "closed"));
    else this.#settle();
  }

  #fail(error: ConsumerError): void {
    this.#fatal ??= error;
    void this.stop();
  }
}

/**
 * The feature extractor (hook modules loaded) and the model bound to its rows, put together into
 * the micro-batch processor. Throws `config_invalid` when the model does not fit the features, or
 * the sidecar's error, saying which sidecar, when it cannot be asked.
 */
async function prepareMicroBatches(
  config: PipelineConfig,
  deps: Pick<
    PipelineDependencies,
    "store" | "inference" | "kafka" | "rolloutOverrides" | "labelJoin" | "retrainingWebhook"
  >,
  log: Logger,
): Promise<{
  processor: MicroBatchProcessor;
  binding: ModelBinding;
  rollout: PreparedRollout | undefined;
  monitoring: PreparedMonitoring | undefined;
}> {
  // The store and sidecar calls of partitions that arrive together go out as one.
  const inference = coalescedInference(deps.inference, config.batch.maxEvents);
  const store = coalescedStore(deps.store, config.batch.maxEvents);
  const extractor = new FeatureExtractor(config.features, store, {
    baseDir: config.baseDir,
  });
  await extractor.ready();
  const { model } = config;
  const bind = (version: number | string | undefined) =>
    bindModel(inference, { ...model, version }, extractor.width, config.batch.maxEvents).catch(
      (error: unknown) => {
        const failure = ConsumerError.from(error);
        if (failure.code === "config_invalid") throw failure;
        throw new ConsumerError(
          failure.code,
          `cannot read model "${model.name}"${version === undefined ? "" : ` version ${version}`} from the sidecar at ${model.sidecar}: ${failure.message}`,
          { cause: failure, retryable: failure.retryable },
        );
      },
    );
  // With a rollout its arms name the versions (docs/rollouts.md); one arm per micro-batch call.
  const rollout =
    config.rollout === undefined
      ? undefined
      : await prepareRollout(config, config.rollout, extractor.width, {
          ...deps,
          inference,
          log,
          bind,
          overrides: deps.rolloutOverrides,
        });
  let binding: ModelBinding;
  let monitoring: PreparedMonitoring | undefined;
  try {
    binding = rollout?.binding ?? (await bind(model.version));
    monitoring =
      config.monitoring === undefined
        ? undefined
        : await prepareMonitoring(config, config.monitoring, extractor.names, {
            kafka: deps.kafka,
            log,
            labelJoin: deps.labelJoin,
            webhook: deps.retrainingWebhook,
          });
  } catch (error) {
    await rollout?.close().catch(() => {});
    throw error;
  }
  const scorer = rollout?.scorer ?? new Scorer(inference, binding, model.deadlineMs);
  const processor = new MicroBatchProcessor(
    extractor,
    scorer,
    {
      model: model.name,
      idField: config.decoder.idField,
      outputTopic: config.topics.output,
      deadLetterTopic: config.topics.deadLetter,
      reviewTopic: config.topics.review,
      reviewBelow: config.review.confidenceBelow,
      recordPredictions: monitoring?.recordPredictions ?? false,
    },
    Date.now,
    monitoring?.monitor,
  );
  return { processor, binding, rollout, monitoring };
}

/** Creates the pipeline's topics that do not exist yet, with the cluster's defaults. */
async function ensureTopics(
  config: PipelineConfig,
  kafka: KafkaClient,
  log: Logger,
): Promise<void> {
  const { input, output, deadLetter, review } = config.topics;
  const topics = [
    ...(review === undefined ? [input, output, deadLetter] : [input, output, deadLetter, review]),
    ...(config.rollout === undefined ? [] : rolloutTopics(config.rollout)),
    ...monitoringTopics(config),
    ...(config.monitoring?.labels === undefined ? [] : [config.monitoring.labels.topic]),
  ];
  const created = await kafka.ensureTopics(topics).catch((error: unknown) => {
    throw new ConsumerError(
      "internal",
      `cannot make sure topics ${topics.join(", ")} exist on ${config.kafka.brokers.join(",")}: ${errorMessage(error)}`,
      { cause: error },
    );
  });
  if (created.length > 0) {
    log.info({}, `created missing topics ${created.join(", ")} with the cluster's defaults`);
  }
}

/** The delivery the config asks for, its producer connected. */
async function openDelivery(
  config: PipelineConfig,
  kafka: KafkaClient,
  consumer: KafkaConsumer,
): Promise<Delivery> {
  if (config.delivery === "exactly_once") {
    const producer = kafka.transactionalProducer(consumer);
    await producer.connect();
    return new ExactlyOnceDelivery(producer);
  }
  const producer = kafka.producer({ ownThread: config.kafka.producerThread });
  await producer.connect();
  return new AtLeastOnceDelivery(producer, consumer);
}
