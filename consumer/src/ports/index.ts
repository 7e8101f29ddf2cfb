/**
 * The pipeline's narrow views of the world outside it: Kafka, the inference sidecar, the feature
 * store, the label join. pipeline/, features/ and lifecycle/ know only these interfaces; adapters/
 * implements them.
 *
 * Naming: a port is named for the role it plays for the pipeline (`Inference`, `FeatureStore`,
 * `KafkaClient`, `KafkaConsumer`, `KafkaProducer`, `KafkaTransactionalProducer`: Kafka is the
 * protocol every implementation speaks, so it stays in the role). An adapter is named
 * `<Technology><Role>`, the technology it is built on in front of the role and in place of the
 * protocol, in a file of the same name in kebab-case: `PlatformaticClient`
 * (adapters/platformatic-client.ts, on @platformatic/kafka), `KafkajsClient`
 * (adapters/kafkajs-client.ts), `SidecarInference`, `RedisFeatureStore`. A librdkafka-based client
 * would be `RdkafkaClient` in adapters/rdkafka-client.ts, and nothing else would change.
 */
export type {
  ConsumerRunOptions,
  ConsumerSettings,
  HeaderValue,
  InputRecord,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransactionalProducer,
  OutputRecord,
  PartitionBatch,
  ProducerOptions,
  RecordHeaders,
  TopicPartitionOffset,
} from "./kafka.js";
export type {
  Inference,
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
export { DEFAULT_LABEL_TTL_MS } from "./label-join.js";
export type {
  JoinedLabel,
  LabelEntry,
  LabelJoinOutcome,
  LabelJoinStore,
  PredictionEntry,
} from "./label-join.js";
export type { RolloutOverrides } from "./rollout-overrides.js";
export type {
  HistoryBatch,
  PartitionExtent,
  PartitionRange,
  TopicHistory,
} from "./topic-history.js";
