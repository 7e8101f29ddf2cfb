/** The Kafka pipeline: consumer group → decode → features → ModelInfer → predictions. */
export { DEFAULT_FETCH_MAX_WAIT_MS, DEFAULT_PARTITION_CONCURRENCY, Pipeline } from "./pipeline.js";
export type { PipelineDependencies } from "./pipeline.js";
export { bindModel, checkModel, LABEL_OUTPUT, PROBABILITIES_OUTPUT } from "./model-binding.js";
export type { ModelBinding, ModelSettings } from "./model-binding.js";
export { HEADERS } from "./output-records.js";
export type { Prediction } from "./output-records.js";
