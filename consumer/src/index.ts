export * from "./config/index.js";
export * from "./ports/index.js";
export * from "./adapters/index.js";
export * from "./features/index.js";
export * from "./pipeline/index.js";
export * from "./observability/index.js";
export * from "./lifecycle/index.js";
export { featureStoreOptions, startPipeline, type StartPipelineOptions } from "./start-pipeline.js";
export { ConsumerError, CONSUMER_ERROR_CODES, type ConsumerErrorCode } from "./errors.js";
