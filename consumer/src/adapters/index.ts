/** The ports on real technology: kafkajs, the sidecar over @sluice/client, Redis. */
export { KafkajsPort } from "./kafkajs-client.js";
export type { KafkajsPortOptions } from "./kafkajs-client.js";
export { DEFAULT_MAX_RECONNECT_BACKOFF_MS, SidecarInference } from "./sidecar-inference.js";
export { RedisWindowStore } from "./redis-feature-store.js";
export type { RedisConnectOptions, RedisWindowStoreOptions } from "./redis-feature-store.js";
