/** The ports on real technology: @platformatic/kafka or kafkajs, the sidecar over @sluice/client, Redis. */
export { PlatformaticClient } from "./platformatic-client.js";
export type { PlatformaticClientOptions } from "./platformatic-client.js";
export { keyPartitioner } from "./platformatic-records.js";
export { ReadCommittedConsumer, committedBatches } from "./read-committed-consumer.js";
export { KafkajsClient } from "./kafkajs-client.js";
export { registerKafkajsZstd } from "./kafkajs-zstd.js";
export type { KafkajsClientOptions } from "./kafkajs-client.js";
export { DEFAULT_MAX_RECONNECT_BACKOFF_MS, SidecarInference } from "./sidecar-inference.js";
export {
  DEFAULT_MAX_CACHED_BYTES,
  DEFAULT_MAX_CACHED_ENTITIES,
  DEFAULT_RETENTION_SLACK_MS,
  RedisFeatureStore,
} from "./redis-feature-store.js";
export type {
  FeatureStoreCounts,
  RedisConnectOptions,
  RedisFeatureStoreOptions,
} from "./redis-feature-store.js";
export { CorruptLogError, decodeLog } from "./entity-log-codec.js";
export { RedisLookupWriter } from "./redis-lookup-writer.js";
export { DEFAULT_LABEL_KEY_PREFIX, RedisLabelJoin } from "./redis-label-join.js";
export type { RedisLabelJoinConnectOptions, RedisLabelJoinOptions } from "./redis-label-join.js";
export { retrainingWebhook } from "./retraining-webhook.js";
export {
  kafkajsSecurity,
  platformaticSecurity,
  securityFailure,
  withSecurityReason,
} from "./kafka-security.js";
export type { PlatformaticSecurityOptions } from "./kafka-security.js";
export { RedisRolloutOverrides, rolloutOverrideKey } from "./redis-rollout-overrides.js";
export { PlatformaticTopicHistory } from "./platformatic-topic-history.js";
export type { PlatformaticTopicHistoryOptions } from "./platformatic-topic-history.js";
