/**
 * The passthrough on @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible
 * layer: the same `eachBatch` code as the kafkajs variant. What differs is configuration, which
 * the layer takes as librdkafka properties beside a `kafkaJS` block: acks are per producer, not per
 * send; `fromBeginning` and `autoCommit` are per consumer; `eachBatch` batches are built
 * client-side and hold at most `js.consumer.max.batch.size` records (32 unless set).
 */
import type { Consumer, Producer } from "kafkajs";
import { runPassOn } from "./kafkajs-passthrough.js";
import { importOptional } from "./optional-module.js";
import {
  CHUNK,
  FETCH_MAX_WAIT_MS,
  heartbeatIntervalMs,
  type OnRecords,
  type PassthroughSettings,
  type StopPassthrough,
} from "./passthrough-settings.js";

/**
 * The members of the package used here. Its producer and consumer follow kafkajs's interfaces
 * (that is the layer's purpose), so kafkajs's types describe them.
 */
interface ConfluentModule {
  readonly KafkaJS: {
    readonly Kafka: new (config: Record<string, unknown>) => {
      producer(config: Record<string, unknown>): Producer;
      consumer(config: Record<string, unknown>): Consumer;
    };
    readonly logLevel: { readonly WARN: number };
  };
}

export async function loadConfluent(): Promise<ConfluentModule> {
  const module = await importOptional<ConfluentModule & { default?: ConfluentModule }>(
    "@confluentinc/kafka-javascript",
  );
  // A CommonJS package: its exports object is the default export.
  return module.default ?? module;
}

export async function startConfluentPassthrough(
  settings: PassthroughSettings,
  onRecords: OnRecords,
): Promise<StopPassthrough> {
  const { KafkaJS } = await loadConfluent();
  const kafka = new KafkaJS.Kafka({
    kafkaJS: {
      clientId: settings.groupId,
      brokers: [...settings.brokers],
      logLevel: KafkaJS.logLevel.WARN,
    },
  });
  // librdkafka keeps order with up to 5 requests in flight when idempotent; its linger.ms (5 ms)
  // lets the partitions' concurrent sends share requests.
  const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 } });
  const consumer = kafka.consumer({
    kafkaJS: {
      groupId: settings.groupId,
      fromBeginning: true,
      autoCommit: false,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs(settings.sessionTimeoutMs),
    },
    // Batches as large as the other clients' chunks (the layer's default is 32).
    "js.consumer.max.batch.size": CHUNK,
    ...(settings.groupInstanceId === undefined
      ? {}
      : { "group.instance.id": settings.groupInstanceId }),
  });

  return runPassOn({ producer, consumer, settings, onRecords, kafkajsCalls: false });
}
