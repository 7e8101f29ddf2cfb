/**
 * What the metadata, health and repository calls return: plain objects with numbers where the wire
 * has int64, so callers need neither protobuf nor bigint to read them.
 */
import { health, type ModelMetadataResponse_TensorMetadata } from "@sluice/proto";

/** Serving status from `grpc.health.v1.Health/Check`; SERVICE_UNKNOWN when the server does not know the service. */
export type HealthStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN";

export interface ServerMetadata {
  name: string;
  version: string;
  /** Protocol extensions the server supports, e.g. `model_repository`, `statistics`. */
  extensions: string[];
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  /** Dimensions; -1 for a dimension of variable size. */
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** One entry of the repository index. */
export interface RepositoryModel {
  name: string;
  version: string;
  /** e.g. READY, UNAVAILABLE, LOADING, UNLOADING. */
  state: string;
  /** Why the model is in that state, when it is not READY. */
  reason: string;
}

export function toTensorMetadata(tensor: ModelMetadataResponse_TensorMetadata): TensorMetadata {
  return {
    name: tensor.name,
    datatype: tensor.datatype,
    shape: tensor.shape.map((dim) => Number(dim)),
  };
}

export function toHealthStatus(value: health.HealthCheckResponse_ServingStatus): HealthStatus {
  switch (value) {
    case health.HealthCheckResponse_ServingStatus.SERVING:
      return "SERVING";
    case health.HealthCheckResponse_ServingStatus.NOT_SERVING:
      return "NOT_SERVING";
    case health.HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}
