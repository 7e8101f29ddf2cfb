/** ServerMetadata and ModelMetadata responses. */
import { create } from "@bufbuild/protobuf";
import {
  ModelMetadataResponseSchema,
  ServerMetadataResponseSchema,
  type ModelMetadataResponse,
  type ServerMetadataResponse,
} from "@sluice/proto";
import type { ServedVersion } from "../models/served-version.js";
import type { TensorSpec } from "../runtime/model-runtime.js";

/** The protocol extensions served, by Triton's names. */
const EXTENSIONS = [
  "model_repository",
  "model_configuration",
  "schedule_policy",
  "statistics",
  "parameters",
  "binary_tensor_data",
];

export function serverMetadataMessage(name: string, version: string): ServerMetadataResponse {
  return create(ServerMetadataResponseSchema, { name, version, extensions: EXTENSIONS });
}

function tensorMetadata(spec: TensorSpec) {
  return { name: spec.name, datatype: spec.datatype, shape: spec.shape.map((dim) => BigInt(dim)) };
}

/** `served`'s metadata; `versions` are every version of its model served now. */
export function modelMetadataMessage(
  served: ServedVersion,
  versions: readonly ServedVersion[],
): ModelMetadataResponse {
  return create(ModelMetadataResponseSchema, {
    name: served.model,
    versions: versions.map((v) => String(v.version)),
    platform: served.platform,
    inputs: served.inputs.map(tensorMetadata),
    outputs: served.outputs.map(tensorMetadata),
  });
}
