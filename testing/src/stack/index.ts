/**
 * @sluice/testing/stack: a local single-node Kafka (KRaft, jars from Maven Central, no Docker) and Redis
 * for development and tests. `sluice stack up|down|status` is the CLI over this API.
 */
export {
  type ServiceStatus,
  type ServiceUp,
  type ServiceUpState,
  type StackDown,
  type StackEndpoints,
  type StackStatus,
  type StackUp,
  type StopOptions,
  ensureStack,
  fetchKafkaJars,
  kafkaAvailable,
  redisAvailable,
  stackStatus,
  stopStack,
} from "./stack.js";
export {
  DEFAULT_CACHE_DIR,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_KAFKA_PORT,
  DEFAULT_REDIS_PORT,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_STATE_DIR,
  DEFAULT_STOP_TIMEOUT_MS,
  LOOPBACK,
  type SecureListenerOptions,
  type StackOptions,
  parseBrokers,
  parsePort,
  parseRedisUrl,
} from "./stack-options.js";
export { STACK_ERROR_CODES, StackError, type StackErrorCode } from "./stack-error.js";
export { KAFKA_VERSION, ensureKafkaJars, kafkaLibDir } from "./kafka-jars.js";
export {
  type ApiVersionRange,
  type KafkaMetadata,
  type KafkaProbe,
  probeKafka,
  requestApiVersions,
} from "./kafka-protocol.js";
export { redisPing } from "./redis-ping.js";
export { requireRedisServer } from "./redis-server.js";
export { type StopOutcome } from "./processes.js";
export { canConnect, freePort, isPortFree, waitForPort } from "../wait.js";
export { SCRAM_MECHANISMS, type ScramMechanism } from "./kafka-config.js";
