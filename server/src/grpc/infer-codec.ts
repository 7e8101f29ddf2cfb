/**
 * ModelInferRequest → validated tensors, and outputs → ModelInferResponse.
 *
 * Everything a request carries is checked against the served version's metadata before it is
 * queued: names, datatypes, shapes (−1 dims), element counts, raw byte lengths, BYTES framing and
 * the batch size. Each failure is an INVALID_ARGUMENT that says what was expected and what came.
 * Raw contents are viewed in place (copied only when misaligned); typed contents are converted.
 */
import { create } from "@bufbuild/protobuf";
import { errorMessage } from "@sluice/kit";
import {
  InferenceError,
  ModelInferResponseSchema,
  bytesOf,
  contentsFieldName,
  encodeBytesElements,
  formatShape,
  fromContents,
  hasTypedContents,
  isDatatype,
  readRaw,
  shapeMatches,
  toContents,
  type Datatype,
  type InferParameter,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelInferResponse_InferOutputTensor,
  type NumericData,
} from "@sluice/proto";
import type { ServedVersion } from "../models/served-version.js";
import type { Tensor, TensorSpec } from "../runtime/model-runtime.js";

/** What the codec reads of the version a request runs on. */
export type CodecVersion = Pick<
  ServedVersion,
  "model" | "version" | "inputs" | "outputs" | "maxBatchSize" | "config"
>;

export interface DecodeLimits {
  /** Most elements in one input tensor; bounds the memory one request can make the server allocate. */
  readonly maxElementsPerInput: number;
}

export interface DecodedRequest {
  readonly inputs: Map<string, Tensor>;
  readonly rows: number;
  readonly outputNames: readonly string[];
  /** Reply with raw_output_contents (true) or typed contents. */
  readonly rawOutput: boolean;
  readonly priority: number | undefined;
  /** Per-request timeout from the `timeout` parameter, in microseconds. */
  readonly timeoutMicros: number | undefined;
}

const invalid = (message: string) => InferenceError.invalidArgument(message);

function toShape(name: string, shape: readonly bigint[]): number[] {
  return shape.map((dim) => {
    if (dim < 0n) {
      throw invalid(
        `input "${name}": shape dimensions must be non-negative, got ${formatShape(shape)}`,
      );
    }
    if (dim > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw invalid(
        `input "${name}": shape ${formatShape(shape)} has a dimension larger than 2^53 - 1`,
      );
    }
    return Number(dim);
  });
}

function countElements(name: string, shape: readonly number[], limit: number): number {
  let count = 1;
  for (const dim of shape) {
    count *= dim;
    if (count > limit) {
      throw invalid(
        `input "${name}": shape ${formatShape(shape)} has more than ${limit} elements, the most one input may carry`,
      );
    }
  }
  return count;
}

/** Typed `contents` → tensor data, checking the field matches the datatype and the count the shape. */
function readContents(
  name: string,
  datatype: Datatype,
  contents: InferTensorContents | undefined,
  count: number,
): Tensor["data"] {
  const field = contentsFieldName(datatype);
  if (field === undefined) {
    throw invalid(
      `input "${name}": ${datatype} has no typed contents field; send it in raw_input_contents`,
    );
  }
  const data = fromContents(datatype, contents);
  if (data.length !== count) {
    throw invalid(
      `input "${name}": expected ${count} ${datatype} elements in contents.${field}, got ${data.length}`,
    );
  }
  return data;
}

function readRawInput(
  name: string,
  datatype: Datatype,
  raw: Uint8Array,
  count: number,
): Tensor["data"] {
  try {
    return readRaw(datatype, raw, count);
  } catch (error) {
    throw invalid(`input "${name}": ${errorMessage(error)}`);
  }
}

function parameterNumber(
  parameters: { [key: string]: InferParameter },
  key: string,
): number | undefined {
  const parameter = parameters[key];
  if (parameter === undefined) return undefined;
  const choice = parameter.parameterChoice;
  const value =
    choice.case === "int64Param" || choice.case === "uint64Param"
      ? Number(choice.value)
      : choice.case === "doubleParam"
        ? choice.value
        : undefined;
  if (value === undefined || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(
      `parameter "${key}": expected a non-negative integer, got ${choice.case ?? "nothing"} ${String(choice.value)}`,
    );
  }
  return value;
}

function parameterBool(
  parameters: { [key: string]: InferParameter },
  key: string,
): boolean | undefined {
  const choice = parameters[key]?.parameterChoice;
  if (choice === undefined) return undefined;
  if (choice.case !== "boolParam")
    throw invalid(`parameter "${key}": expected a bool, got ${choice.case ?? "nothing"}`);
  return choice.value;
}

/** Validates a request against the version it will run on. Throws InferenceError(INVALID_ARGUMENT). */
export function decodeInferRequest(
  request: ModelInferRequest,
  version: CodecVersion,
  limits: DecodeLimits,
): DecodedRequest {
  const specs = new Map<string, TensorSpec>(version.inputs.map((spec) => [spec.name, spec]));
  const useRaw = request.rawInputContents.length > 0;
  if (useRaw && request.rawInputContents.length !== request.inputs.length) {
    throw invalid(
      `raw_input_contents: expected one entry per input (${request.inputs.length}), got ${request.rawInputContents.length}; raw contents must be used for all inputs or none`,
    );
  }
  const batched = version.maxBatchSize > 0;
  const inputs = new Map<string, Tensor>();
  let rows: number | undefined;
  request.inputs.forEach((input, index) => {
    const spec = specs.get(input.name);
    if (spec === undefined) {
      throw invalid(
        `unexpected input "${input.name}": model "${version.model}" takes ${[...specs.keys()].map((n) => `"${n}"`).join(", ")}`,
      );
    }
    if (inputs.has(input.name)) throw invalid(`input "${input.name}" is given more than once`);
    if (!isDatatype(input.datatype) || input.datatype !== spec.datatype) {
      throw invalid(
        `input "${input.name}": expected datatype ${spec.datatype}, got "${input.datatype}"`,
      );
    }
    const shape = toShape(input.name, input.shape);
    if (!shapeMatches(spec.shape, shape)) {
      throw invalid(
        `input "${input.name}": expected shape ${formatShape(spec.shape)}, got ${formatShape(shape)}`,
      );
    }
    if (batched) {
      const inputRows = shape[0]!;
      if (inputRows < 1 || inputRows > version.maxBatchSize) {
        throw invalid(
          `input "${input.name}": expected a batch size from 1 to ${version.maxBatchSize} (max_batch_size), got ${inputRows}`,
        );
      }
      if (rows !== undefined && rows !== inputRows) {
        throw invalid(
          `input "${input.name}": batch size ${inputRows} differs from the other inputs' ${rows}`,
        );
      }
      rows = inputRows;
    }
    const count = countElements(input.name, shape, limits.maxElementsPerInput);
    if (useRaw && input.contents !== undefined && hasTypedContents(input.contents)) {
      throw invalid(`input "${input.name}": has both contents and raw_input_contents; send one`);
    }
    const data = useRaw
      ? readRawInput(input.name, spec.datatype, request.rawInputContents[index]!, count)
      : readContents(input.name, spec.datatype, input.contents, count);
    inputs.set(input.name, { datatype: spec.datatype, shape, data });
  });
  for (const name of specs.keys()) {
    if (!inputs.has(name)) {
      throw invalid(
        `missing input "${name}": model "${version.model}" takes ${[...specs.keys()].map((n) => `"${n}"`).join(", ")}`,
      );
    }
  }

  const available = version.outputs.map((spec) => spec.name);
  const outputNames =
    request.outputs.length === 0
      ? available
      : request.outputs.map((output) => {
          if (!available.includes(output.name)) {
            throw invalid(
              `unknown output "${output.name}": model "${version.model}" has ${available.map((n) => `"${n}"`).join(", ")}`,
            );
          }
          return output.name;
        });
  if (new Set(outputNames).size !== outputNames.length)
    throw invalid("an output is requested more than once");

  const priority = parameterNumber(request.parameters, "priority");
  const levels = version.config.batching.priorityLevels;
  if (priority !== undefined && priority !== 0 && (levels === 0 || priority > levels)) {
    throw invalid(
      levels === 0
        ? `parameter "priority": model "${version.model}" has no priority levels, got ${priority}`
        : `parameter "priority": expected 1..${levels}, got ${priority}`,
    );
  }
  return {
    inputs,
    rows: rows ?? 1,
    outputNames,
    // Triton's clients send raw and read raw; a client that sent typed contents reads typed ones.
    rawOutput: parameterBool(request.parameters, "binary_data_output") ?? useRaw,
    priority: priority === 0 ? undefined : priority,
    timeoutMicros: parameterNumber(request.parameters, "timeout"),
  };
}

export function encodeInferResponse(
  request: ModelInferRequest,
  version: CodecVersion,
  outputNames: readonly string[],
  outputs: ReadonlyMap<string, Tensor>,
  rawOutput: boolean,
): ModelInferResponse {
  // FP16 can only travel raw, so one FP16 output makes the whole response raw.
  const raw = rawOutput || outputNames.some((name) => outputs.get(name)!.datatype === "FP16");
  const tensors: Omit<ModelInferResponse_InferOutputTensor, "$typeName">[] = [];
  const rawContents: Uint8Array[] = [];
  for (const name of outputNames) {
    const tensor = outputs.get(name)!;
    tensors.push({
      name,
      datatype: tensor.datatype,
      shape: tensor.shape.map((dim) => BigInt(dim)),
      parameters: {},
      contents: raw ? undefined : toContents(tensor.datatype, tensor.data),
    });
    if (raw) {
      rawContents.push(
        tensor.datatype === "BYTES"
          ? encodeBytesElements(tensor.data as Uint8Array[])
          : bytesOf(tensor.data as NumericData),
      );
    }
  }
  return create(ModelInferResponseSchema, {
    modelName: version.model,
    modelVersion: String(version.version),
    id: request.id,
    outputs: tensors,
    rawOutputContents: rawContents,
  });
}
