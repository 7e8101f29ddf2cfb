/**
 * The kafkajs clients of the naive variant, with the pipeline's settings: an idempotent producer
 * (one request in flight, Java's murmur2 partitioner) and a group consumer with the pipeline's
 * fetch wait, so it differs from the pipeline only in what it does per event.
 */
import { Kafka, Partitioners, logLevel, type Consumer, type Producer } from "kafkajs";
import { DEFAULT_FETCH_MAX_WAIT_MS } from "@sluice/consumer";
import type { VariantSettings } from "./variant-settings.js";

export function benchKafkaClients(
  settings: VariantSettings,
  sessionTimeoutMs: number,
): { producer: Producer; consumer: Consumer } {
  const kafka = new Kafka({
    clientId: settings.groupId,
    brokers: [...settings.brokers],
    logLevel: logLevel.WARN,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: settings.groupId,
    maxWaitTimeInMs: DEFAULT_FETCH_MAX_WAIT_MS,
    sessionTimeout: sessionTimeoutMs,
  });
  return { producer, consumer };
}
