export * from "./gen/inference/grpc_service_pb.js";
export * from "./gen/inference/model_config_pb.js";
export * as health from "./gen/grpc/health/v1/health_pb.js";
export {
  grpcServiceDefinition,
  type GrpcHandler,
  type GrpcServiceImplementation,
} from "./grpc-service.js";
export { fileDescriptorProtos } from "./descriptor-set.js";
export * from "./tensor/index.js";
export {
  INFERENCE_ERROR_CODES,
  InferenceError,
  isRetryableStatus,
  statusCode,
  type InferenceErrorCode,
  type InferenceErrorOptions,
} from "./inference-error.js";
export {
  VERSION_LABEL_PARAMETER_PREFIX,
  versionLabelParameters,
  versionLabelsOf,
} from "./version-labels.js";
