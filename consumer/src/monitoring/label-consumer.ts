/**
 * The label topic's consumer (`monitoring.labels`): a second, small consumer in the pipeline's
 * process, in a group of its own (`<group_id>.labels`), handled like the input's partitions
 * (`PartitionHandler`: micro-batches, retries with backoff, nothing committed before it is done).
 * A micro-batch of labels is decoded (`decodeLabel`; a malformed label goes to the dead-letter
 * topic with the reason), recorded in the label join once its dead letters are acknowledged and
 * before its offset commits, and the pairs it completed go to the monitor after the commit. The
 * join is replay-idempotent, so a retried or replayed batch counts each pair once.
 *
 * Its dead letters are delivered at least once whatever the pipeline's `delivery`: they are copies
 * of label messages, and the join ignores a label it has already seen.
 */
import type { Logger } from "@sluice/kit";
import type { PipelineConfig } from "../config/pipeline-config.js";
import { ConsumerError } from "../errors.js";
import { decodeLabel } from "../lifecycle/label-join.js";
import type { LabelsSectionConfig } from "../lifecycle/monitoring-config.js";
import type { MonitoringMetrics } from "../observability/monitoring-metrics.js";
import type { DeliveredBatch, PipelineObserver } from "../observability/pipeline-observer.js";
import type { InputRecord, KafkaClient, KafkaConsumer, OutputRecord } from "../ports/kafka.js";
import type { LabelEntry, LabelJoinStore } from "../ports/label-join.js";
import { AtLeastOnceDelivery, type Delivery } from "../pipeline/delivery.js";
import { decodeJson } from "../pipeline/json-decoder.js";
import type { MicroBatchResult } from "../pipeline/micro-batch.js";
import { deadLetterRecord } from "../pipeline/output-records.js";
import { PartitionHandler, type CommitHook } from "../pipeline/partition-handler.js";
import type { ModelMonitor } from "./model-monitor.js";

/** Labels are few and nobody waits on them: a second's wait at the broker is fine. */
const LABEL_FETCH_MAX_WAIT_MS = 1_000;
/** As the input's: a few partitions at once. */
const LABEL_PARTITION_CONCURRENCY = 4;

export interface LabelConsumerDependencies {
  readonly kafka: KafkaClient;
  readonly labelJoin: LabelJoinStore;
  readonly monitor: ModelMonitor;
  readonly metrics: MonitoringMetrics;
  readonly log: Logger;
  /** A failure no retry can fix: the pipeline stops. */
  readonly onFatal: (error: ConsumerError) => void;
}

/** Counts what the label consumer committed; its handler's observer. */
class LabelObserver implements PipelineObserver {
  labels = 0;
  fetched(): void {}
  resolved(): void {}
  delivered(batch: DeliveredBatch): void {
    this.labels += batch.records.length;
  }
  retried(): void {}
  assigned(): void {}
  stopped(): void {}
}

export class LabelConsumer {
  readonly groupId: string;
  readonly #consumer: KafkaConsumer;
  readonly #delivery: Delivery;
  readonly #handler: PartitionHandler;
  readonly #observer = new LabelObserver();

  private constructor(
    groupId: string,
    consumer: KafkaConsumer,
    delivery: Delivery,
    handler: (observer: LabelObserver) => PartitionHandler,
  ) {
    this.groupId = groupId;
    this.#consumer = consumer;
    this.#delivery = delivery;
    this.#handler = handler(this.#observer);
  }

  /** Label messages consumed and committed so far (dead letters included). */
  get labels(): number {
    return this.#observer.labels;
  }

  /** Joins the label group and starts consuming `labels.topic`. */
  static async start(
    config: PipelineConfig,
    labels: LabelsSectionConfig,
    deps: LabelConsumerDependencies,
  ): Promise<LabelConsumer> {
    const groupId = `${config.kafka.groupId}.labels`;
    const consumer = deps.kafka.consumer({
      groupId,
      groupInstanceId: undefined,
      maxWaitTimeMs: LABEL_FETCH_MAX_WAIT_MS,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    });
    const producer = deps.kafka.producer();
    await producer.connect();
    const delivery = new AtLeastOnceDelivery(producer, consumer);
    const deadLetterTopic = config.topics.deadLetter;
    const fields = { id: labels.idField, label: labels.labelField, labelledAt: labels.timeField };
    const process = (
      topic: string,
      partition: number,
      records: readonly InputRecord[],
    ): Promise<MicroBatchResult> => {
      const startedAt = performance.now();
      const entries: LabelEntry[] = [];
      const deadLetters: OutputRecord[] = [];
      const codes: Partial<Record<string, number>> = {};
      for (const record of records) {
        const source = { topic, partition, record };
        let error: ConsumerError;
        const decoded = decodeJson(record.value);
        if (decoded.ok) {
          try {
            entries.push(
              decodeLabel(
                decoded.value,
                Number(record.timestamp),
                `${topic}/${partition}/${record.offset}`,
                fields,
              ),
            );
            continue;
          } catch (failure) {
            error = ConsumerError.from(failure);
          }
        } else error = decoded.error;
        deadLetters.push(deadLetterRecord(deadLetterTopic, source, error));
        codes[error.code] = (codes[error.code] ?? 0) + 1;
      }
      return Promise.resolve({
        records: deadLetters,
        predictions: 0,
        reviews: 0,
        deadLetters: codes,
        versions: new Map(),
        labels: entries,
        seconds: { decode: (performance.now() - startedAt) / 1000, features: 0, inference: 0 },
      });
    };
    const { labelJoin, metrics, monitor } = deps;
    const commitHook: CommitHook = async (result) => {
      const entries = result.labels ?? [];
      const outcome = entries.length === 0 ? undefined : await labelJoin.recordLabels(entries);
      return () => {
        metrics.label("invalid", result.records.length);
        if (outcome === undefined) return;
        metrics.label("joined", outcome.joined.length);
        metrics.label("waiting", outcome.waiting);
        metrics.label("duplicate", outcome.duplicates + outcome.conflicts);
        monitor.committed(outcome.joined);
      };
    };
    const self = new LabelConsumer(
      groupId,
      consumer,
      delivery,
      (observer) =>
        new PartitionHandler(
          { maxEvents: config.batch.maxEvents, lingerMs: 0, retry: config.retry },
          {
            process,
            delivery,
            consumer,
            log: deps.log,
            observer,
            onFatal: deps.onFatal,
            commitHook,
          },
        ),
    );
    try {
      await consumer.connect();
      consumer.onCrash((error) =>
        deps.onFatal(
          new ConsumerError("internal", `label consumer crashed: ${error.message}`, {
            cause: error,
          }),
        ),
      );
      await consumer.subscribe(labels.topic);
      await consumer.run({
        concurrency: LABEL_PARTITION_CONCURRENCY,
        eachBatch: self.#handler.handle,
      });
    } catch (error) {
      await self.stop().catch(() => {});
      throw error;
    }
    deps.log.info(
      { group: groupId },
      `pipeline "${config.name}": consuming labels from ${labels.topic} (group ${groupId})`,
    );
    return self;
  }

  /** Finishes the batch in hand, leaves the group, closes its producer. */
  async stop(): Promise<void> {
    try {
      await this.#consumer.disconnect();
    } finally {
      this.#handler.halt();
      await this.#delivery.close();
    }
  }
}
