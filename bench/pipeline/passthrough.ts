/**
 * The limit: a consumer that produces every input record, unchanged, to the output topic, through
 * the pipeline's own Kafka adapter (`KafkajsClient` or `PlatformaticClient`, as the run asks). No
 * decoding, features or model, but the same Kafka work as the Sluice pipeline on that client: the
 * same fetch wait and partitions in flight, chunks of the same micro-batch size, the same idempotent
 * producer (acks from all in-sync replicas, concurrent partitions' sends coalesced) and each chunk's
 * offset committed once its records are acknowledged (at-least-once). fraud.yaml gives the chunk
 * size (`batch.max_events`) and the producer's compression (`kafka.compression`), as it gives
 * them to the pipeline.
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
  type PipelineConfig,
} from "@sluice/consumer";
import type { Logger } from "@sluice/kit";
import { fraudConfig } from "./fraud-config.js";
import type { StageTimes } from "./stage-times.js";
import type { VariantSettings } from "./variant-settings.js";

/** The run's Kafka adapter, as `startPipeline` makes it from the (benchmark's) fraud.yaml. */
export function benchKafkaClient(config: PipelineConfig, log?: Logger): KafkaClient {
  const { client, brokers, clientId, compression } = config.kafka;
  const options = { brokers, clientId, log, compression };
  return client === "kafkajs" ? new KafkajsClient(options) : new PlatformaticClient(options);
}

/** Starts consuming; resolves with a function that stops and disconnects. */
export async function startPassthrough(
  settings: VariantSettings,
  times: StageTimes,
): Promise<() => Promise<void>> {
  const config = await fraudConfig(settings);
  // Records per produce and commit, as the pipeline's micro-batch.
  const chunkSize = config.batch.maxEvents;
  const kafka = benchKafkaClient(config);
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
    for (let start = 0; start < records.length; start += chunkSize) {
      if (!batch.isRunning() || batch.isStale()) return;
      const chunk = records.slice(start, start + chunkSize);
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
