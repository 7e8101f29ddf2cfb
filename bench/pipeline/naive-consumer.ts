/**
 * The naive pipeline: the hand-rolled consumer many teams start with, in TypeScript. One event at
 * a time, in one loop: decode it, compute its features (the same feature engine, so one Redis round
 * trip per event), one ModelInfer of one row through @sluice/client, produce the prediction and
 * wait for the ack, commit its offset, then the next event. Same producer settings as the
 * pipeline (idempotent, acks from all in-sync replicas), so it is just as safe, only slower.
 */
import { InferenceClient } from "@sluice/client";
import { FeatureExtractor, HEADERS, RedisFeatureStore, type Prediction } from "@sluice/consumer";
import { fraudConfig } from "./fraud-config.js";
import { benchKafkaClients } from "./kafka-clients.js";
import { timedStore, type StageTimes } from "./stage-times.js";
import type { VariantSettings } from "./variant-settings.js";

interface OutRecord {
  readonly topic: string;
  readonly value: string | Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** Starts consuming; resolves with a function that stops and closes every client. */
export async function startNaiveConsumer(
  settings: VariantSettings,
  times: StageTimes,
): Promise<() => Promise<void>> {
  const config = await fraudConfig(settings);
  const store = await RedisFeatureStore.connect(settings.redisUrl, {
    keyPrefix: settings.keyPrefix,
  });
  const features = new FeatureExtractor(config.features, timedStore(store, times), {
    baseDir: config.baseDir,
  });
  await features.ready();
  const client = new InferenceClient({ address: settings.sidecar });
  const { producer, consumer } = benchKafkaClients(settings, {
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
  });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [settings.topics.input], fromBeginning: true });
  /**
   * The prediction record of one event, or its dead letter when it cannot be decoded or featurised
   * (the benchmark's events are all well-formed). A Redis or sidecar failure throws: kafkajs then
   * retries the event.
   */
  const predict = async (
    topic: string,
    partition: number,
    offset: string,
    bytes: Buffer | null,
    key: string | null,
  ): Promise<OutRecord> => {
    const deadLetter = (reason: string): OutRecord => ({
      topic: settings.topics.deadLetter,
      value: bytes,
      headers: { [HEADERS.errorMessage]: reason },
    });
    let value: unknown;
    try {
      value = JSON.parse(bytes?.toString("utf8") ?? "null") as unknown;
    } catch (error) {
      return deadLetter(`not JSON: ${(error as Error).message}`);
    }
    const [outcome] = await features.compute([{ value, key, topic, partition, offset }]);
    if (outcome === undefined || !outcome.ok) {
      return deadLetter(outcome?.error.message ?? "no feature outcome");
    }
    const result = await times.time("infer", 1, () =>
      client.infer(
        config.model.name,
        [
          {
            name: config.model.input ?? "features",
            datatype: "FP32",
            shape: [1, features.width],
            data: outcome.row,
          },
        ],
        { version: config.model.version, deadlineMs: config.model.deadlineMs },
      ),
    );
    const probabilities = [...(result.output("probabilities").data as Float32Array)].map((p) =>
      Number(p.toPrecision(7)),
    );
    const prediction: Prediction = {
      id: (value as { id: string }).id,
      key,
      model: config.model.name,
      model_version: result.modelVersion,
      label: Number(result.output("label").data[0]),
      score: probabilities[1] ?? 0,
      probabilities,
      confidence: Math.max(...probabilities),
      event_time: new Date(outcome.eventTime).toISOString(),
      predicted_at: new Date().toISOString(),
    };
    return {
      topic: settings.topics.output,
      value: JSON.stringify(prediction),
      headers: { [HEADERS.modelVersion]: result.modelVersion },
    };
  };

  await consumer.run({
    autoCommit: false,
    // One partition at a time: a single loop, as a first consumer is written.
    partitionsConsumedConcurrently: 1,
    eachMessage: async ({ topic, partition, message }) => {
      const key = message.key === null ? null : message.key.toString("utf8");
      const source = {
        [HEADERS.sourceTopic]: topic,
        [HEADERS.sourcePartition]: String(partition),
        [HEADERS.sourceOffset]: message.offset,
      };
      const record = await predict(topic, partition, message.offset, message.value, key);
      await times.time("produce", 1, () =>
        producer.send({
          topic: record.topic,
          acks: -1,
          messages: [
            { key: message.key, value: record.value, headers: { ...record.headers, ...source } },
          ],
        }),
      );
      const next = (BigInt(message.offset) + 1n).toString();
      await times.time("commit", 1, () =>
        consumer.commitOffsets([{ topic, partition, offset: next }]),
      );
    },
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
    client.close();
    await store.close();
  };
}
