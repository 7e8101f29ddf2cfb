/** The ports on real technology: @platformatic/kafka or kafkajs, the sidecar over @sluice/client, Redis. */
export { PlatformaticClient } from "./platformatic-client.js";
export type { PlatformaticClientOptions } from "./platformatic-client.js";
export { keyPartitioner } from "./platformatic-records.js";
export { KafkajsClient } from "./kafkajs-client.js";
export type { KafkajsClientOptions } from "./kafkajs-client.js";
export { DEFAULT_MAX_RECONNECT_BACKOFF_MS, SidecarInference } from "./sidecar-inference.js";
export { RedisFeatureStore } from "./redis-feature-store.js";
export type { RedisConnectOptions, RedisFeatureStoreOptions } from "./redis-feature-store.js";
