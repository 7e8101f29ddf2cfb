/** The feature engine: a YAML feature spec, compiled once, that turns event batches into rows. */
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
export { LookupCache } from "./lookup-cache.js";
export { statePlan } from "./feature-program.js";
export type { LookupCacheOptions } from "./lookup-cache.js";
export { EntityLayout, EntityLog, layoutOf } from "./entity-log.js";
export { LookupTable } from "./lookup-table.js";
export type { LookupRecord, LookupRow, LookupTableOptions } from "./lookup-table.js";
