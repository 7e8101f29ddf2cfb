/**
 * ModelInferRequest → validated tensors, and outputs → ModelInferResponse.
 *
 * Everything a request carries is checked against the served version's metadata before it is
 * queued: names, datatypes, shapes (−1 dims), element counts, raw byte lengths, BYTES framing and
 * the batch size. Each failure is an INVALID_ARGUMENT that says what was expected and what came.
 * Raw contents are viewed in place (copied only when misaligned); typed contents are converted.
 */
import { create } from "@bufbuild/protobuf";
import {
  InferTensorContentsSchema,
  ModelInferResponseSchema,
  bytesOf,
  datatypeInfo,
  decodeBytesElements,
  encodeBytesElements,
  isDatatype,
  viewRaw,
  type Datatype,
  type InferParameter,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelInferResponse_InferOutputTensor,
  type NumericData,
} from "@sluice/proto";
import { InferenceError } from "../errors.js";
import type { ServedVersion } from "../models/served-version.js";
import type { Tensor, TensorSpec } from "../runtime/model-runtime.js";

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

function describeShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function shapeMatches(expected: readonly number[], got: readonly number[]): boolean {
  return expected.length === got.length && expected.every((dim, i) => dim === -1 || dim === got[i]);
}

function toShape(name: string, shape: readonly bigint[]): number[] {
  return shape.map((dim) => {
    if (dim < 0n) {
      throw invalid(
        `input "${name}": shape dimensions must be non-negative, got [${shape.join(", ")}]`,
      );
    }
    if (dim > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw invalid(
        `input "${name}": shape [${shape.join(", ")}] has a dimension larger than 2^53 - 1`,
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
        `input "${name}": shape ${describeShape(shape)} has more than ${limit} elements, the most one input may carry`,
      );
    }
  }
  return count;
}

/** Typed `contents` → tensor data, checking the field matches the datatype and the count the shape. */
function fromContents(
  name: string,
  datatype: Datatype,
  contents: InferTensorContents | undefined,
  count: number,
): Tensor["data"] {
  const c = contents ?? create(InferTensorContentsSchema);
  const pick = (): { field: string; values: readonly unknown[] } => {
    switch (datatype) {
      case "BOOL":
        return { field: "bool_contents", values: c.boolContents };
      case "INT8":
      case "INT16":
      case "INT32":
        return { field: "int_contents", values: c.intContents };
      case "INT64":
        return { field: "int64_contents", values: c.int64Contents };
      case "UINT8":
      case "UINT16":
      case "UINT32":
        return { field: "uint_contents", values: c.uintContents };
      case "UINT64":
        return { field: "uint64_contents", values: c.uint64Contents };
      case "FP32":
        return { field: "fp32_contents", values: c.fp32Contents };
      case "FP64":
        return { field: "fp64_contents", values: c.fp64Contents };
      case "BYTES":
        return { field: "bytes_contents", values: c.bytesContents };
      case "FP16":
        throw invalid(
          `input "${name}": FP16 has no typed contents field; send it in raw_input_contents`,
        );
    }
  };
  const { field, values } = pick();
  if (values.length !== count) {
    throw invalid(
      `input "${name}": expected ${count} ${datatype} elements in contents.${field}, got ${values.length}`,
    );
  }
  if (datatype === "BYTES") return values as Uint8Array[];
  if (datatype === "BOOL") return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
  const Array_ = datatypeInfo(datatype).array!;
  const data = new Array_(count);
  (data as unknown as { set(values: ArrayLike<unknown>): void }).set(values);
  return data;
}

function fromRaw(name: string, datatype: Datatype, raw: Uint8Array, count: number): Tensor["data"] {
  if (datatype === "BYTES") {
    try {
      return decodeBytesElements(raw, count);
    } catch (error) {
      throw invalid(`input "${name}": ${(error as Error).message}`);
    }
  }
  const size = datatypeInfo(datatype).size;
  if (raw.byteLength !== count * size) {
    throw invalid(
      `input "${name}": expected ${count} elements of ${datatype} (${count * size} bytes), got ${raw.byteLength} bytes`,
    );
  }
  return viewRaw(datatype, raw);
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
  version: ServedVersion,
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
        `input "${input.name}": expected shape ${describeShape(spec.shape)}, got ${describeShape(shape)}`,
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
      ? fromRaw(input.name, spec.datatype, request.rawInputContents[index]!, count)
      : fromContents(input.name, spec.datatype, input.contents, count);
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

function hasTypedContents(c: InferTensorContents): boolean {
  return (
    c.boolContents.length +
      c.intContents.length +
      c.int64Contents.length +
      c.uintContents.length +
      c.uint64Contents.length +
      c.fp32Contents.length +
      c.fp64Contents.length +
      c.bytesContents.length >
    0
  );
}

function toContents(tensor: Tensor): InferTensorContents {
  const data = tensor.data;
  switch (tensor.datatype) {
    case "BOOL":
      return create(InferTensorContentsSchema, {
        boolContents: Array.from(data as Uint8Array, (v) => v !== 0),
      });
    case "INT8":
    case "INT16":
    case "INT32":
      return create(InferTensorContentsSchema, { intContents: Array.from(data as Int32Array) });
    case "INT64":
      return create(InferTensorContentsSchema, {
        int64Contents: Array.from(data as BigInt64Array),
      });
    case "UINT8":
    case "UINT16":
    case "UINT32":
      return create(InferTensorContentsSchema, { uintContents: Array.from(data as Uint32Array) });
    case "UINT64":
      return create(InferTensorContentsSchema, {
        uint64Contents: Array.from(data as BigUint64Array),
      });
    case "FP32":
      return create(InferTensorContentsSchema, { fp32Contents: Array.from(data as Float32Array) });
    case "FP64":
      return create(InferTensorContentsSchema, { fp64Contents: Array.from(data as Float64Array) });
    case "BYTES":
      return create(InferTensorContentsSchema, { bytesContents: [...(data as Uint8Array[])] });
    case "FP16":
      throw new Error("FP16 has no typed contents field");
  }
}

export function encodeInferResponse(
  request: ModelInferRequest,
  version: ServedVersion,
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
      contents: raw ? undefined : toContents(tensor),
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
