/**
 * The passthrough on kafkajs 2.2: `eachBatch` per partition, auto-resolve and auto-commit off,
 * with the settings of `bench/pipeline/passthrough.ts`, so its figures compare with the pipeline
 * benchmark's. kafkajs has no static membership: `groupInstanceId` is refused.
 */
import type { Consumer, EachBatchPayload, Producer } from "kafkajs";
import { benchKafkaClients } from "../pipeline/kafka-clients.js";
import {
  CHUNK,
  PARTITIONS_IN_FLIGHT,
  heartbeatIntervalMs,
  type OnRecords,
  type PassthroughSettings,
  type StopPassthrough,
} from "./passthrough-settings.js";

export async function startKafkajsPassthrough(
  settings: PassthroughSettings,
  onRecords: OnRecords,
): Promise<StopPassthrough> {
  if (settings.groupInstanceId !== undefined)
    throw new Error("kafkajs: expected no groupInstanceId, it has no static membership (KIP-345)");
  const { producer, consumer } = benchKafkaClients(settings, {
    sessionTimeoutMs: settings.sessionTimeoutMs,
    heartbeatIntervalMs: heartbeatIntervalMs(settings.sessionTimeoutMs),
  });
  return runPassOn({ producer, consumer, settings, onRecords, kafkajsCalls: true });
}

export interface PassOn {
  readonly producer: Producer;
  readonly consumer: Consumer;
  readonly settings: PassthroughSettings;
  readonly onRecords: OnRecords;
  /**
   * kafkajs takes acks per send, `fromBeginning` per subscribe and `autoCommit` per run, and wants
   * heartbeats within a long batch; the confluent layer takes the first three in its clients'
   * configuration and heartbeats on librdkafka's thread.
   */
  readonly kafkajsCalls: boolean;
}

/**
 * Connects the clients of kafkajs's interface and runs the passthrough: each chunk of a partition's
 * batch produced unchanged, then its offset committed and resolved (at-least-once); stops between
 * chunks once the consumer stops or the batch is stale (a rebalance took the partition).
 */
export async function runPassOn(passOn: PassOn): Promise<StopPassthrough> {
  const { producer, consumer, settings, onRecords, kafkajsCalls } = passOn;
  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    onRecords(batch.messages.length);
    for (let start = 0; start < batch.messages.length; start += CHUNK) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(start, start + CHUNK);
      const last = chunk[chunk.length - 1]!;
      await producer.send({
        topic: settings.output,
        ...(kafkajsCalls ? { acks: -1 } : {}),
        messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
      });
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: nextOffset(last.offset) },
      ]);
      payload.resolveOffset(last.offset);
      if (kafkajsCalls) await payload.heartbeat();
    }
  };
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({
    topics: [settings.input],
    ...(kafkajsCalls ? { fromBeginning: true } : {}),
  });
  await consumer.run({
    ...(kafkajsCalls ? { autoCommit: false } : {}),
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: PARTITIONS_IN_FLIGHT,
    eachBatch,
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}

/** The offset to commit after processing `offset`: the next one to read. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
