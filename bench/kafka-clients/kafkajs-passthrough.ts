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
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [settings.input], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: PARTITIONS_IN_FLIGHT,
    eachBatch: passOnBatch({
      producer,
      consumer,
      output: settings.output,
      onRecords,
      acksOnSend: true,
      heartbeat: true,
    }),
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}

export interface PassOn {
  readonly producer: Producer;
  readonly consumer: Consumer;
  readonly output: string;
  readonly onRecords: OnRecords;
  /** Asks each send for acks from all in-sync replicas: kafkajs takes acks per send. */
  readonly acksOnSend: boolean;
  /** Heartbeats after each chunk, as kafkajs wants within a long batch. */
  readonly heartbeat: boolean;
}

/**
 * The `eachBatch` handler of the clients with kafkajs's interface: each chunk of a partition's batch
 * produced unchanged, then its offset committed and resolved (at-least-once); stops between chunks
 * once the consumer stops or the batch is stale (a rebalance took the partition).
 */
export function passOnBatch(passOn: PassOn): (payload: EachBatchPayload) => Promise<void> {
  const { producer, consumer, output, onRecords, acksOnSend, heartbeat } = passOn;
  return async (payload) => {
    const { batch } = payload;
    onRecords(batch.messages.length);
    for (let start = 0; start < batch.messages.length; start += CHUNK) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(start, start + CHUNK);
      const last = chunk[chunk.length - 1]!;
      await producer.send({
        topic: output,
        ...(acksOnSend ? { acks: -1 } : {}),
        messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
      });
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: nextOffset(last.offset) },
      ]);
      payload.resolveOffset(last.offset);
      if (heartbeat) await payload.heartbeat();
    }
  };
}

/** The offset to commit after processing `offset`: the next one to read. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
