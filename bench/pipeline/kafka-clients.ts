/**
 * The kafkajs clients of the naive variant and of the kafkajs passthrough, with the pipeline's
 * settings: an idempotent producer (one request in flight, Java's murmur2 partitioner) and a group
 * consumer with the pipeline's fetch wait, so they differ from the pipeline only in what they do
 * per event.
 */
import { Kafka, Partitioners, logLevel, type Consumer, type Producer } from "kafkajs";
import { DEFAULT_FETCH_MAX_WAIT_MS } from "@sluice/consumer";

export interface BenchKafkaSettings {
  readonly brokers: readonly string[];
  readonly groupId: string;
}

export interface BenchConsumerTimeouts {
  readonly sessionTimeoutMs: number;
  /** @default kafkajs's (3 s) */
  readonly heartbeatIntervalMs?: number;
}

export function benchKafkaClients(
  settings: BenchKafkaSettings,
  timeouts: BenchConsumerTimeouts,
): { producer: Producer; consumer: Consumer } {
  const kafka = new Kafka({
    clientId: settings.groupId,
    brokers: [...settings.brokers],
    logLevel: logLevel.WARN,
  });
  const producer = kafka.producer({
    idempotent: true,
    // kafkajs requires one request in flight for idempotence.
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: settings.groupId,
    maxWaitTimeInMs: DEFAULT_FETCH_MAX_WAIT_MS,
    sessionTimeout: timeouts.sessionTimeoutMs,
    ...(timeouts.heartbeatIntervalMs === undefined
      ? {}
      : { heartbeatInterval: timeouts.heartbeatIntervalMs }),
  });
  return { producer, consumer };
}
