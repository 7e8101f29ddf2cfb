/**
 * The limit: a kafkajs consumer that produces every input record, unchanged, to the output topic.
 * No decoding, features or model, but the same Kafka work as the Sluice pipeline: the same fetch
 * wait, the same partitions in flight, chunks of the same micro-batch size, an idempotent producer
 * with acks from all in-sync replicas, and each chunk's offset committed once its records are
 * acknowledged (at-least-once).
 */
import type { EachBatchPayload } from "kafkajs";
import { DEFAULT_PARTITION_CONCURRENCY } from "@sluice/consumer";
import { benchKafkaClients } from "./kafka-clients.js";
import type { StageTimes } from "./stage-times.js";
import type { VariantSettings } from "./variant-settings.js";

/** fraud.yaml's `batch.max_events`: records per produce and commit, as the pipeline's micro-batch. */
export const PASSTHROUGH_CHUNK = 256;
/** fraud.yaml's session timeout. */
const SESSION_TIMEOUT_MS = 45_000;

/** Starts consuming; resolves with a function that stops and disconnects. */
export async function startPassthrough(
  settings: VariantSettings,
  times: StageTimes,
): Promise<() => Promise<void>> {
  const { producer, consumer } = benchKafkaClients(settings, SESSION_TIMEOUT_MS);

  const passOn = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    for (let start = 0; start < batch.messages.length; start += PASSTHROUGH_CHUNK) {
      if (!payload.isRunning() || payload.isStale()) return;
      const chunk = batch.messages.slice(start, start + PASSTHROUGH_CHUNK);
      const last = chunk[chunk.length - 1]!;
      await times.time("produce", chunk.length, () =>
        producer.send({
          topic: settings.topics.output,
          acks: -1,
          messages: chunk.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
        }),
      );
      const offset = (BigInt(last.offset) + 1n).toString();
      await times.time("commit", 1, () =>
        consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }]),
      );
      payload.resolveOffset(last.offset);
      await payload.heartbeat();
    }
  };

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [settings.topics.input], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: DEFAULT_PARTITION_CONCURRENCY,
    eachBatch: (payload) =>
      times.time("eachBatch", payload.batch.messages.length, () => passOn(payload)),
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}
