/**
 * Tensors between the caller's typed arrays and the wire. Inputs always go as
 * `raw_input_contents` (the fast path: numeric data is sent from a view of the caller's array, never
 * converted element by element); outputs are read from `raw_output_contents` when the server sent
 * them, otherwise from the typed `contents` fields.
 */
import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { errorMessage } from "@sluice/kit";
import {
  InferenceError,
  type Datatype,
  type ModelInferRequest_InferInputTensorSchema,
  type ModelInferResponse,
  type NumericData,
  type TensorData,
  bytesOf,
  datatypeInfo,
  decodeBytesElements,
  elementCount,
  encodeBytesElements,
  formatShape,
  fromContents,
  isDatatype,
  viewRaw,
} from "@sluice/proto";

/** One input tensor. BYTES elements given as strings are sent UTF-8 encoded. */
export interface InferInput {
  name: string;
  datatype: Datatype;
  shape: readonly number[];
  data: TensorData | readonly string[];
}

/**
 * One output tensor. Numeric data is a typed array (FP16 as raw 16-bit words, BOOL as 0/1 bytes,
 * INT64/UINT64 as BigInt64Array/BigUint64Array); BYTES data is one Uint8Array per element.
 */
export interface InferOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

export interface EncodedInputs {
  readonly tensors: MessageInitShape<typeof ModelInferRequest_InferInputTensorSchema>[];
  readonly raw: Uint8Array[];
}

const utf8Encoder = new TextEncoder();

/**
 * Validates inputs and encodes them for `raw_input_contents`. Throws INVALID_ARGUMENT saying what
 * was expected and what came, before anything is sent.
 */
export function encodeInputs(inputs: readonly InferInput[]): EncodedInputs {
  const tensors: EncodedInputs["tensors"] = [];
  const raw: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const [index, input] of inputs.entries()) {
    const { name, datatype, shape, data } = input;
    if (typeof name !== "string" || name.length === 0) {
      throw invalid(
        `inputs[${index}].name: expected a non-empty string, got ${JSON.stringify(name)}`,
      );
    }
    if (seen.has(name))
      throw invalid(`input "${name}": given twice; each input name must appear once`);
    seen.add(name);
    if (typeof datatype !== "string" || !isDatatype(datatype)) {
      throw invalid(
        `input "${name}": expected a datatype such as FP32, INT64 or BYTES, got ${JSON.stringify(datatype)}`,
      );
    }
    const count = countElements(`input "${name}"`, shape);
    raw.push(
      datatype === "BYTES"
        ? encodeBytesInput(name, shape, count, data)
        : numericBytes(name, datatype, shape, count, data),
    );
    tensors.push({ name, datatype, shape: shape.map((dim) => BigInt(dim)) });
  }
  return { tensors, raw };
}

function encodeBytesInput(
  name: string,
  shape: readonly number[],
  count: number,
  data: InferInput["data"],
): Uint8Array {
  if (!Array.isArray(data)) {
    throw invalid(
      `input "${name}": BYTES expects an array of strings or Uint8Arrays, got ${kindOf(data)}`,
    );
  }
  const elements = data as readonly unknown[];
  if (elements.length !== count) {
    throw invalid(
      `input "${name}": expected ${count} BYTES elements for shape ${formatShape(shape)}, got ${elements.length}`,
    );
  }
  return encodeBytesElements(
    elements.map((element, i) => {
      if (typeof element === "string") return utf8Encoder.encode(element);
      if (element instanceof Uint8Array) return element;
      throw invalid(
        `input "${name}": BYTES element ${i}: expected a string or Uint8Array, got ${kindOf(element)}`,
      );
    }),
  );
}

function numericBytes(
  name: string,
  datatype: Exclude<Datatype, "BYTES">,
  shape: readonly number[],
  count: number,
  data: InferInput["data"],
): Uint8Array {
  const { array, size } = datatypeInfo(datatype);
  if (array === undefined || !(data instanceof array)) {
    const expected = array?.name ?? "a typed array";
    const hint = Array.isArray(data) ? ` (convert with ${expected}.from(values))` : "";
    throw invalid(
      `input "${name}": ${datatype} expects data as ${expected}, got ${kindOf(data)}${hint}`,
    );
  }
  const typed: NumericData = data;
  if (typed.length !== count) {
    throw invalid(
      `input "${name}": expected ${count} elements of ${datatype} (${count * size} bytes) for shape ` +
        `${formatShape(shape)}, got ${typed.length} elements (${typed.byteLength} bytes)`,
    );
  }
  // A view of the caller's memory: the only copy is protobuf's serialisation into the message.
  return bytesOf(typed);
}

/**
 * Decodes the outputs of a response, from raw contents when present, else from typed contents.
 * A response that breaks the protocol (wrong element count, unknown datatype) is INTERNAL: the
 * caller cannot fix it, the server must.
 */
export function decodeOutputs(response: ModelInferResponse): Map<string, InferOutput> {
  const { outputs, rawOutputContents } = response;
  if (rawOutputContents.length > 0 && rawOutputContents.length !== outputs.length) {
    throw malformed(
      `expected raw_output_contents for all ${outputs.length} outputs or none, got ${rawOutputContents.length}`,
    );
  }
  const decoded = new Map<string, InferOutput>();
  for (const [index, output] of outputs.entries()) {
    const what = `output "${output.name}"`;
    if (!isDatatype(output.datatype)) {
      throw malformed(
        `${what}: expected a datatype such as FP32 or BYTES, got ${JSON.stringify(output.datatype)}`,
      );
    }
    const datatype = output.datatype;
    const shape = output.shape.map((dim) => {
      if (dim < 0n || dim > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw malformed(
          `${what}: expected non-negative dimensions, got shape ${formatShape(output.shape)}`,
        );
      }
      return Number(dim);
    });
    const count = countElements(what, shape, malformed);
    const raw = rawOutputContents[index];
    if (raw === undefined && datatype === "FP16" && count > 0) {
      throw malformed(
        `${what}: FP16 has no typed contents field, so expected raw_output_contents, got none`,
      );
    }
    let data: TensorData;
    try {
      data =
        raw === undefined ? fromContents(datatype, output.contents) : fromRaw(datatype, raw, count);
    } catch (error) {
      if (error instanceof InferenceError) throw error;
      throw malformed(`${what}: ${errorMessage(error)}`, error);
    }
    if (data.length !== count) {
      const source = raw === undefined ? "typed contents" : "raw contents";
      throw malformed(
        `${what}: expected ${count} elements of ${datatype} for shape ${formatShape(shape)}, got ${data.length} in ${source}`,
      );
    }
    decoded.set(output.name, { name: output.name, datatype, shape, data });
  }
  return decoded;
}

/**
 * Views into the response buffer; viewRaw copies only when the bytes are misaligned. The count is
 * checked by the caller, so a wrong length reads as "expected N elements, got M".
 */
function fromRaw(datatype: Datatype, raw: Uint8Array, count: number): TensorData {
  return datatype === "BYTES" ? decodeBytesElements(raw, count) : viewRaw(datatype, raw);
}

function countElements(
  what: string,
  shape: readonly number[],
  fail: (message: string, cause?: unknown) => InferenceError = invalid,
): number {
  if (!Array.isArray(shape))
    throw fail(`${what}: expected shape as an array of dimensions, got ${kindOf(shape)}`);
  try {
    return elementCount(shape);
  } catch (error) {
    throw fail(`${what}: ${errorMessage(error)}`, error);
  }
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an Array of ${value.length}`;
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value;
}

function invalid(message: string, cause?: unknown): InferenceError {
  return InferenceError.invalidArgument(message, cause);
}

function malformed(message: string, cause?: unknown): InferenceError {
  return new InferenceError(status.INTERNAL, `malformed response: ${message}`, { cause });
}
