/** Pipeline files: one YAML per pipeline, validated with paths in every message. */
export {
  COMPRESSIONS,
  containerInstanceId,
  DEFAULT_BROKERS,
  DEFAULT_DEADLINE_MS,
  DEFAULT_ID_FIELD,
  DEFAULT_INITIAL_BACKOFF_MS,
  DEFAULT_KAFKA_CLIENT,
  DEFAULT_LINGER_MS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_EVENTS,
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  DEFAULT_REDIS_URL,
  DEFAULT_REVIEW_CONFIDENCE_BELOW,
  DEFAULT_SESSION_TIMEOUT_MS,
  DELIVERY_MODES,
  KAFKA_CLIENTS,
  KAFKAJS_COMPRESSIONS,
  loadPipelineConfig,
  parsePipelineConfig,
  parsePipelineYaml,
} from "./pipeline-config.js";
export { loadKafkaSecurity, SASL_MECHANISMS } from "./kafka-security.js";
export type {
  KafkaSaslSettings,
  KafkaSecurity,
  KafkaSecuritySettings,
  KafkaTlsSettings,
  PasswordSource,
  SaslMechanism,
} from "./kafka-security.js";
export type {
  Compression,
  DeliveryMode,
  KafkaClientName,
  PipelineConfig,
  PipelineOverrides,
} from "./pipeline-config.js";
