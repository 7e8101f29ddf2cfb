import type { Metadata } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  InferenceError,
  type InferParameter,
  type ModelInferRequest,
  InferParameterSchema,
  ModelInferRequestSchema,
} from "@sluice/proto";
import { type InferInput, encodeInputs } from "./tensors.js";

/** Per-call options of {@link InferenceClient.infer}. */
export interface InferOptions {
  /** A version number, or a label such as "stable"; sent as `model_version`. @default the server's choice */
  version?: string | number;
  /** Outputs to return. @default all of the model's outputs */
  outputs?: readonly string[];
  /** Time allowed for this call, retries included. @default the client's `deadlineMs` */
  deadlineMs?: number;
  /** Aborting cancels the call, or the wait before a retry. */
  signal?: AbortSignal;
  /** Scheduling priority, sent as the request parameter `priority` (int64) as Triton names it. */
  priority?: number;
  /** Server-side queue timeout in microseconds, sent as the request parameter `timeout` (int64). */
  timeoutMicros?: number;
  /** Request id, echoed in the response. */
  id?: string;
  /**
   * Request parameters. Safe integers and bigints go as int64 (bigints above int64 as uint64), other
   * numbers as double, booleans as bool, strings as string.
   */
  parameters?: Record<string, string | number | boolean | bigint>;
  /** Extra metadata sent with the call. */
  metadata?: Metadata;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Builds the ModelInfer request, validating everything the caller passed. Throws INVALID_ARGUMENT. */
export function buildInferRequest(
  model: string,
  inputs: readonly InferInput[],
  options: InferOptions = {},
): ModelInferRequest {
  if (typeof model !== "string" || model.length === 0) {
    throw InferenceError.invalidArgument(
      `model: expected a model name, got ${JSON.stringify(model)}`,
    );
  }
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw InferenceError.invalidArgument(
      `model "${model}": expected at least one input, got ${Array.isArray(inputs) ? "none" : typeof inputs}`,
    );
  }
  const encoded = encodeInputs(inputs);
  const parameters: Record<string, InferParameter> = {};
  for (const [key, value] of Object.entries(options.parameters ?? {})) {
    parameters[key] = toParameter(`parameters.${key}`, value);
  }
  if (options.priority !== undefined) {
    parameters.priority = int64Option("priority", "priority", options.priority, options.parameters);
  }
  if (options.timeoutMicros !== undefined) {
    parameters.timeout = int64Option(
      "timeoutMicros",
      "timeout",
      options.timeoutMicros,
      options.parameters,
    );
  }
  return create(ModelInferRequestSchema, {
    modelName: model,
    modelVersion: modelVersion(options.version),
    id: options.id ?? "",
    parameters,
    inputs: encoded.tensors,
    outputs: requestedOutputs(options.outputs),
    rawInputContents: encoded.raw,
  });
}

/** `model_version` on the wire: "" (the server's choice), a version number, or a label. */
export function modelVersion(version: string | number | undefined): string {
  if (version === undefined) return "";
  if (typeof version === "number") {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw InferenceError.invalidArgument(
        `version: expected a non-negative integer or a label such as "stable", got ${version}`,
      );
    }
    return String(version);
  }
  if (typeof version !== "string") {
    throw InferenceError.invalidArgument(
      `version: expected a number or a label such as "stable", got ${typeof version}`,
    );
  }
  return version;
}

function requestedOutputs(outputs: readonly string[] | undefined): { name: string }[] {
  if (outputs === undefined) return [];
  const seen = new Set<string>();
  return outputs.map((name, index) => {
    if (typeof name !== "string" || name.length === 0) {
      throw InferenceError.invalidArgument(
        `outputs[${index}]: expected an output name, got ${JSON.stringify(name)}`,
      );
    }
    if (seen.has(name))
      throw InferenceError.invalidArgument(`outputs: "${name}" is requested twice`);
    seen.add(name);
    return { name };
  });
}

function int64Option(
  option: string,
  key: string,
  value: number,
  parameters: InferOptions["parameters"],
): InferParameter {
  // Two sources for one parameter would leave the caller guessing which one the server saw.
  if (parameters !== undefined && Object.hasOwn(parameters, key)) {
    throw InferenceError.invalidArgument(
      `${option}: sets the request parameter "${key}", which parameters.${key} sets too; give only one`,
    );
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw InferenceError.invalidArgument(
      `${option}: expected a non-negative integer, got ${value}`,
    );
  }
  return create(InferParameterSchema, {
    parameterChoice: { case: "int64Param", value: BigInt(value) },
  });
}

function toParameter(path: string, value: unknown): InferParameter {
  switch (typeof value) {
    case "string":
      return create(InferParameterSchema, { parameterChoice: { case: "stringParam", value } });
    case "boolean":
      return create(InferParameterSchema, { parameterChoice: { case: "boolParam", value } });
    case "number":
      if (Number.isSafeInteger(value)) {
        return create(InferParameterSchema, {
          parameterChoice: { case: "int64Param", value: BigInt(value) },
        });
      }
      if (!Number.isFinite(value)) {
        throw InferenceError.invalidArgument(`${path}: expected a finite number, got ${value}`);
      }
      return create(InferParameterSchema, { parameterChoice: { case: "doubleParam", value } });
    case "bigint":
      if (value >= INT64_MIN && value <= INT64_MAX) {
        return create(InferParameterSchema, { parameterChoice: { case: "int64Param", value } });
      }
      if (value > INT64_MAX && value <= UINT64_MAX) {
        return create(InferParameterSchema, { parameterChoice: { case: "uint64Param", value } });
      }
      throw InferenceError.invalidArgument(
        `${path}: expected a bigint within int64 or uint64, got ${value}`,
      );
    default:
      throw InferenceError.invalidArgument(
        `${path}: expected a string, number, boolean or bigint, got ${value === null ? "null" : typeof value}`,
      );
  }
}
