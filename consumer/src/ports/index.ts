/** The pipeline's narrow views of the world outside it: Kafka, the inference sidecar, the feature store. */
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
} from "./kafka.js";
export type {
  InferencePort,
  InferRequest,
  InferResponse,
  ModelDescription,
  OutputTensor,
  TensorInfo,
} from "./inference.js";
export type {
  FeatureStore,
  LookupRequest,
  StatePlan,
  StoreEvent,
  StoreRequest,
  StoreResponse,
  WindowQuery,
} from "./feature-store.js";
