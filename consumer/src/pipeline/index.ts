/** The Kafka pipeline: consumer group → decode → features → ModelInfer → predictions, with its ports. */
export {
  DEFAULT_FETCH_MAX_WAIT_MS,
  DEFAULT_PARTITION_CONCURRENCY,
  Pipeline,
  startPipeline,
} from "./pipeline.js";
export type { PipelineDependencies, StartPipelineOptions } from "./pipeline.js";
export type { PipelineStats } from "./partition-handler.js";
export { jsonLinesLog, silentLog, LOG_LEVELS } from "./pipeline-log.js";
export type { LogLevel, PipelineLog } from "./pipeline-log.js";
export type {
  ConsumerRunOptions,
  ConsumerSettings,
  HeaderValue,
  InputRecord,
  KafkaPort,
  OutputRecord,
  PartitionBatch,
  RecordHeaders,
  RecordProducer,
  SourceConsumer,
  TopicPartitionOffset,
  TransactionalProducer,
} from "./kafka-port.js";
export { KafkajsPort } from "./kafkajs-adapter.js";
export type { KafkajsPortOptions } from "./kafkajs-adapter.js";
export type {
  InferencePort,
  InferRequest,
  InferResponse,
  ModelDescription,
  OutputTensor,
  TensorInfo,
} from "./inference-port.js";
export { DEFAULT_MAX_RECONNECT_BACKOFF_MS, SidecarInference } from "./sidecar-inference.js";
export { bindModel, checkModel, LABEL_OUTPUT, PROBABILITIES_OUTPUT } from "./model-binding.js";
export type { ModelBinding, ModelSettings } from "./model-binding.js";
export { HEADERS } from "./output-records.js";
// For a downstream consumer of predictions that continues their traces with its own SDK.
// The load generator starts its traces with the same helpers, so both ends speak one convention.
export {
  CONSUMER_TRACER,
  injectTraceContext,
  kafkaHeadersGetter,
  kafkaHeadersSetter,
  messagingAttributes,
  messagingSpanName,
  tracePropagationEnabled,
} from "./kafka-trace-context.js";
export type { Prediction } from "./output-records.js";
