/**
 * The passthrough on kafkajs 2.2: `eachBatch` per partition, auto-resolve and auto-commit off,
 * with the settings of `bench/pipeline/passthrough.ts`, so its figures compare with the pipeline
 * benchmark's. kafkajs has no static membership: `groupInstanceId` is refused.
 */
import { Kafka, Partitioners, logLevel, type EachBatchPayload } from "kafkajs";
import {
  CHUNK,
  FETCH_MAX_WAIT_MS,
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
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: heartbeatIntervalMs(settings.sessionTimeoutMs),
  });

  const passOn = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    onRecords(batch.messages.length);
    for (let start = 0; start < batch.messages.length; start += CHUNK) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(start, start + CHUNK);
      const last = chunk[chunk.length - 1]!;
      await producer.send({
        topic: settings.output,
        acks: -1,
        messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
      });
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: nextOffset(last.offset) },
      ]);
      payload.resolveOffset(last.offset);
      await payload.heartbeat();
    }
  };

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [settings.input], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: PARTITIONS_IN_FLIGHT,
    eachBatch: passOn,
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
