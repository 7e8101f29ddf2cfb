export { InferenceClient } from "./inference-client.js";
export type { CallOptions } from "./inference-client.js";
export type {
  HealthStatus,
  ModelMetadata,
  RepositoryModel,
  ServerMetadata,
  TensorMetadata,
} from "./responses.js";
export type { InferenceClientOptions, TlsOptions } from "./client-options.js";
export {
  DEFAULT_DEADLINE_MS,
  DEFAULT_INITIAL_BACKOFF_MS,
  DEFAULT_LOAD_DEADLINE_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
} from "./client-options.js";
export type { InferOptions } from "./infer-request.js";
export type { InferResult } from "./infer-result.js";
export type { InferInput, InferOutput } from "./tensors.js";
export type { RetryPolicy } from "./retry.js";
export {
  INFERENCE_ERROR_CODES,
  InferenceError,
  isRetryableStatus,
  type InferenceErrorCode,
} from "@sluice/proto";
export {
  DATATYPES,
  datatypeInfo,
  float16ToNumber,
  formatShape,
  isDatatype,
  numberToFloat16,
  typedArrayFrom,
  type Datatype,
  type NumericData,
  type NumericDatatype,
  type TensorData,
} from "@sluice/proto";
export type { ModelConfig, ModelStatistics } from "@sluice/proto";
export { status } from "@grpc/grpc-js";
