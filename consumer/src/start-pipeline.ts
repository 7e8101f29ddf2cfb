/**
 * Where the pipeline meets the real world: `startPipeline` wires a `Pipeline` (which knows only
 * the ports) to the adapters: the Kafka client the config names, the sidecar over gRPC and the
 * Redis feature store.
 */
import { silentLogger, type Logger } from "@sluice/kit";
import { KafkajsClient } from "./adapters/kafkajs-client.js";
import { PlatformaticClient } from "./adapters/platformatic-client.js";
import { RedisFeatureStore, type RedisConnectOptions } from "./adapters/redis-feature-store.js";
import { RedisRolloutOverrides } from "./adapters/redis-rollout-overrides.js";
import { RedisLabelJoin } from "./adapters/redis-label-join.js";
import { retrainingWebhook } from "./adapters/retraining-webhook.js";
import { SidecarInference } from "./adapters/sidecar-inference.js";
import { loadKafkaSecurity } from "./config/kafka-security.js";
import type { PipelineConfig } from "./config/pipeline-config.js";
import type { ConsumerMetrics } from "./observability/consumer-metrics.js";
import { Pipeline } from "./pipeline/pipeline.js";

export interface StartPipelineOptions {
  readonly log?: Logger;
  /** Where the pipeline's Prometheus series go. @default a registry of its own */
  readonly metrics?: ConsumerMetrics;
}

/**
 * Starts `config` with the real clients: @platformatic/kafka (or kafkajs, `kafka.client`), the
 * sidecar over gRPC, the Redis feature store. `stop()` closes all of them.
 */
export async function startPipeline(
  config: PipelineConfig,
  options: StartPipelineOptions = {},
): Promise<Pipeline> {
  const log = options.log ?? silentLogger;
  const { client, brokers, clientId, compression } = config.kafka;
  // A missing certificate or password stops the start here, naming its key.
  const security = await loadKafkaSecurity(config.kafka.security);
  const kafka =
    client === "kafkajs"
      ? new KafkajsClient({ brokers, clientId, log, security, compression })
      : new PlatformaticClient({ brokers, clientId, log, security, compression });
  const inference = new SidecarInference(config.model.sidecar);
  let store: RedisFeatureStore | undefined;
  let overrides: RedisRolloutOverrides | undefined;
  let labelJoin: RedisLabelJoin | undefined;
  try {
    store = await RedisFeatureStore.connect(config.redis.url, featureStoreOptions(config));
    // The pipeline closes it with the rollout (stop(), or a start that fails after connecting).
    overrides =
      config.rollout === undefined
        ? undefined
        : await RedisRolloutOverrides.connect(
            config.redis.url,
            config.redis.keyPrefix,
            config.name,
          );
    // The pipeline closes it too (stop(), or a start that fails after connecting).
    const labels = config.monitoring?.labels;
    labelJoin =
      labels === undefined
        ? undefined
        : await RedisLabelJoin.connect(config.redis.url, {
            keyPrefix: labels.keyPrefix,
            ttlMs: labels.ttlMs,
          });
    const opened = store;
    const webhook = config.retraining?.webhook;
    return await Pipeline.start(config, {
      kafka,
      inference,
      store: opened,
      log,
      metrics: options.metrics,
      ...(overrides === undefined ? {} : { rolloutOverrides: overrides }),
      ...(labelJoin === undefined ? {} : { labelJoin }),
      ...(webhook === undefined
        ? {}
        : { retrainingWebhook: retrainingWebhook(webhook.url, webhook.timeoutMs) }),
      release: async () => {
        inference.close();
        await opened.close();
      },
    });
  } catch (error) {
    inference.close();
    await store?.close();
    await overrides?.close();
    await labelJoin?.close().catch(() => {});
    throw error;
  }
}

/**
 * The feature store's options for `config`: its state is the consumer group's, for its input
 * topic, so two pipelines over the same events (another group, an A/B pair) never share it.
 */
export function featureStoreOptions(config: PipelineConfig): RedisConnectOptions {
  return {
    keyPrefix: config.redis.keyPrefix,
    namespace: `${config.kafka.groupId}\n${config.topics.input}`,
    maxCachedEntities: config.redis.maxCachedEntities,
    maxCachedBytes: config.redis.maxCachedBytes,
    retentionSlackMs: config.redis.retentionSlackMs,
  };
}
