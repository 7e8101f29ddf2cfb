/**
 * The limit: a consumer that produces every input record, unchanged, to the output topic, through
 * the pipeline's own Kafka adapter (`KafkajsClient` or `PlatformaticClient`, as the run asks). No
 * decoding, features or model, but the same Kafka work as the Sluice pipeline on that client: the
 * same fetch wait and partitions in flight, chunks of the same micro-batch size, the same idempotent
 * producer (acks from all in-sync replicas, concurrent partitions' sends coalesced) and each chunk's
 * offset committed once its records are acknowledged (at-least-once).
 */
import {
  DEFAULT_FETCH_MAX_WAIT_MS,
  DEFAULT_PARTITION_CONCURRENCY,
  DEFAULT_SESSION_TIMEOUT_MS,
  KafkajsClient,
  PlatformaticClient,
  type KafkaClient,
  type OutputRecord,
  type PartitionBatch,
} from "@sluice/consumer";
import type { Logger } from "@sluice/kit";
import type { StageTimes } from "./stage-times.js";
import type { VariantSettings } from "./variant-settings.js";

/** fraud.yaml's `batch.max_events`: records per produce and commit, as the pipeline's micro-batch. */
export const PASSTHROUGH_CHUNK = 256;

/** The run's Kafka adapter, as `startPipeline` makes it. */
export function benchKafkaClient(settings: VariantSettings, log?: Logger): KafkaClient {
  const options = { brokers: settings.brokers, clientId: settings.groupId, log };
  return settings.client === "kafkajs"
    ? new KafkajsClient(options)
    : new PlatformaticClient(options);
}

/** Starts consuming; resolves with a function that stops and disconnects. */
export async function startPassthrough(
  settings: VariantSettings,
  times: StageTimes,
): Promise<() => Promise<void>> {
  const kafka = benchKafkaClient(settings);
  const producer = kafka.producer();
  const consumer = kafka.consumer({
    groupId: settings.groupId,
    groupInstanceId: undefined,
    maxWaitTimeMs: DEFAULT_FETCH_MAX_WAIT_MS,
    sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
  });
  const output = settings.topics.output;

  const passOn = async (batch: PartitionBatch): Promise<void> => {
    const { records, topic, partition } = batch;
    for (let start = 0; start < records.length; start += PASSTHROUGH_CHUNK) {
      if (!batch.isRunning() || batch.isStale()) return;
      const chunk = records.slice(start, start + PASSTHROUGH_CHUNK);
      const last = chunk[chunk.length - 1]!;
      const outputs = chunk.map((r): OutputRecord => ({
        topic: output,
        key: r.key,
        value: r.value,
        headers: r.headers,
      }));
      await times.time("produce", chunk.length, () => producer.send(outputs));
      const offset = (BigInt(last.offset) + 1n).toString();
      await times.time("commit", 1, () => consumer.commit([{ topic, partition, offset }]));
      batch.resolveOffset(last.offset);
      await batch.heartbeat?.();
    }
  };

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe(settings.topics.input);
  await consumer.run({
    concurrency: DEFAULT_PARTITION_CONCURRENCY,
    eachBatch: (batch) => times.time("eachBatch", batch.records.length, () => passOn(batch)),
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}
