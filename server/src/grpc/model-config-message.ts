/** A served version described as Triton's ModelConfig message, so Triton's tooling can read it. */
import { create } from "@bufbuild/protobuf";
import {
  DataType,
  ModelConfigSchema,
  ModelInstanceGroup_Kind,
  type Datatype,
  type ModelConfig as ModelConfigMessage,
  type ModelVersionPolicy,
  versionLabelParameters,
} from "@sluice/proto";
import type { ServedVersion } from "../models/served-version.js";
import { MODEL_FILE_NAME } from "../repository/model-repository.js";

const DATA_TYPE: Record<Datatype, DataType> = {
  BOOL: DataType.TYPE_BOOL,
  UINT8: DataType.TYPE_UINT8,
  UINT16: DataType.TYPE_UINT16,
  UINT32: DataType.TYPE_UINT32,
  UINT64: DataType.TYPE_UINT64,
  INT8: DataType.TYPE_INT8,
  INT16: DataType.TYPE_INT16,
  INT32: DataType.TYPE_INT32,
  INT64: DataType.TYPE_INT64,
  FP16: DataType.TYPE_FP16,
  FP32: DataType.TYPE_FP32,
  FP64: DataType.TYPE_FP64,
  BYTES: DataType.TYPE_STRING,
};

function versionPolicy(served: ServedVersion): Omit<ModelVersionPolicy, "$typeName"> {
  const policy = served.config.versionPolicy;
  switch (policy.kind) {
    case "latest":
      return {
        policyChoice: { case: "latest", value: { numVersions: policy.numVersions } },
      } as never;
    case "all":
      return { policyChoice: { case: "all", value: {} } } as never;
    case "specific":
      return {
        policyChoice: {
          case: "specific",
          value: { versions: policy.versions.map((v) => BigInt(v)) },
        },
      } as never;
  }
}

/**
 * `served` as Triton's ModelConfig. The model's version labels travel in `parameters`, one entry
 * per label (see proto's version-labels.ts): all of the model's labels, whichever version was asked.
 */
export function modelConfigMessage(served: ServedVersion): ModelConfigMessage {
  const batched = served.maxBatchSize > 0;
  // Triton leaves the batch dimension out of dims when max_batch_size > 0.
  const dims = (shape: readonly number[]) =>
    (batched ? shape.slice(1) : shape).map((dim) => BigInt(dim));
  const batching = served.config.batching;
  return create(ModelConfigSchema, {
    name: served.model,
    platform: served.platform,
    backend: "onnxruntime",
    maxBatchSize: served.maxBatchSize,
    versionPolicy: versionPolicy(served),
    input: served.inputs.map((spec) => ({
      name: spec.name,
      dataType: DATA_TYPE[spec.datatype],
      dims: dims(spec.shape),
    })),
    output: served.outputs.map((spec) => ({
      name: spec.name,
      dataType: DATA_TYPE[spec.datatype],
      dims: dims(spec.shape),
    })),
    instanceGroup: [
      {
        name: `${served.model}_0`,
        kind: ModelInstanceGroup_Kind.CPU,
        count: served.config.instanceCount,
      },
    ],
    defaultModelFilename: MODEL_FILE_NAME,
    parameters: versionLabelParameters(served.config.labels),
    schedulingChoice:
      batching.enabled && batched
        ? {
            case: "dynamicBatching",
            value: {
              preferredBatchSize: [...batching.preferredBatchSizes],
              maxQueueDelayMicroseconds: BigInt(batching.maxQueueDelayMicros),
              priorityLevels: BigInt(batching.priorityLevels),
              defaultPriorityLevel: BigInt(batching.defaultPriorityLevel),
              defaultQueuePolicy: {
                maxQueueSize: batching.maxQueueSize,
                defaultTimeoutMicroseconds: BigInt(batching.defaultTimeoutMicros),
              },
            },
          }
        : { case: undefined },
  });
}
