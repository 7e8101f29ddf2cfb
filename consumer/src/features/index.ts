/** The feature engine: a YAML feature spec, the extractor that turns event batches into rows, and its stores. */
export { FeatureExtractor } from "./feature-extractor.js";
export type { FeatureEvent, FeatureExtractorOptions, FeatureOutcome } from "./feature-extractor.js";
export type { FeatureHook, HookEvent } from "./feature-hooks.js";
export {
  DEFAULT_LOOKUP_CACHE_TTL_MS,
  featureSpecSchema,
  parseDuration,
  parseFeatureSpec,
} from "./feature-spec.js";
export type { FeatureDefinition, FeatureSpec } from "./feature-spec.js";
export type {
  FeatureStore,
  LookupRequest,
  StatePlan,
  StoreEvent,
  StoreRequest,
  StoreResponse,
  WindowQuery,
} from "./feature-store.js";
export { LookupCache } from "./lookup-cache.js";
export type { LookupCacheOptions } from "./lookup-cache.js";
export { formatIssues, schemaErrorMap } from "@sluice/kit";
export { RedisWindowStore } from "./window-store.js";
export type { RedisConnectOptions, RedisWindowStoreOptions } from "./window-store.js";
