/**
 * At start, the pipeline reads the model's metadata and checks that its feature rows fit the
 * model's input; a pipeline whose rows do not fit would send every event to the dead-letter topic,
 * so it refuses to run instead, saying what the model expects and what the features give.
 */
import { ConsumerError } from "../errors.js";
import type { Inference, ModelDescription, TensorInfo } from "../ports/inference.js";

/** The output the pipeline reads class probabilities from, when the model has it (as the examples do). */
export const PROBABILITIES_OUTPUT = "probabilities";
/** The output the pipeline reads the predicted class from; the argmax of the probabilities otherwise. */
export const LABEL_OUTPUT = "label";

export interface ModelSettings {
  readonly name: string;
  readonly version: number | string | undefined;
  /** The input tensor; the model's only input when undefined. */
  readonly input: string | undefined;
}

/** What the pipeline sends and reads, checked against the model. */
export interface ModelBinding {
  readonly model: string;
  readonly version: number | string | undefined;
  readonly input: string;
  readonly width: number;
  readonly probabilities: string;
  /** undefined: the label is the argmax of the probabilities. */
  readonly label: string | undefined;
}

const INTEGER_TYPES = new Set([
  "INT64",
  "INT32",
  "INT16",
  "INT8",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
]);

function formatTensor(tensor: TensorInfo): string {
  return `${tensor.datatype} [${tensor.shape.join(", ")}]`;
}

function invalid(message: string): ConsumerError {
  return new ConsumerError("config_invalid", message, { retryable: false });
}

/**
 * Reads `settings`' metadata through `inference` and checks it against rows of `width` floats and
 * micro-batches of up to `maxEvents` rows. Throws `config_invalid` naming both sides of a
 * mismatch, or the inference port's error when the sidecar cannot be asked.
 */
export async function bindModel(
  inference: Inference,
  settings: ModelSettings,
  width: number,
  maxEvents: number,
): Promise<ModelBinding> {
  const description = await inference.describe(settings.name, settings.version);
  return checkModel(description, settings, width, maxEvents);
}

/** The checks of `bindModel` on metadata already read. */
export function checkModel(
  description: ModelDescription,
  settings: ModelSettings,
  width: number,
  maxEvents: number,
): ModelBinding {
  const model = `model "${settings.name}"${settings.version === undefined ? "" : ` version ${settings.version}`}`;
  const names = description.inputs.map((input) => `"${input.name}"`).join(", ") || "none";
  let input: TensorInfo | undefined;
  if (settings.input === undefined) {
    if (description.inputs.length !== 1) {
      throw invalid(
        `pipeline.model.input: ${model} has inputs ${names}; name the one the features go to`,
      );
    }
    input = description.inputs[0];
  } else {
    input = description.inputs.find((candidate) => candidate.name === settings.input);
    if (input === undefined) {
      throw invalid(
        `pipeline.model.input: expected one of ${model}'s inputs ${names}, got "${settings.input}"`,
      );
    }
  }
  if (input === undefined) throw invalid(`${model} has no inputs`);
  const [, columns] = input.shape;
  if (
    input.datatype !== "FP32" ||
    input.shape.length !== 2 ||
    (columns !== width && columns !== -1)
  ) {
    throw invalid(
      `pipeline.features: ${model} input "${input.name}" expects ${formatTensor(input)}, ` +
        `the features give FP32 [-1, ${width}] (${width} features per event)`,
    );
  }
  const { maxBatchSize } = description;
  if (maxBatchSize === 0) {
    throw invalid(`${model} has no batch dimension (max_batch_size 0); the pipeline sends batches`);
  }
  if (maxBatchSize !== undefined && maxEvents > maxBatchSize) {
    throw invalid(
      `pipeline.batch.max_events: expected at most ${model}'s max_batch_size ${maxBatchSize}, got ${maxEvents}`,
    );
  }

  const fp32Matrices = description.outputs.filter(
    (output) => output.datatype === "FP32" && output.shape.length === 2,
  );
  const probabilities =
    fp32Matrices.find((output) => output.name === PROBABILITIES_OUTPUT) ??
    (fp32Matrices.length === 1 ? fp32Matrices[0] : undefined);
  if (probabilities === undefined) {
    const outputs = description.outputs.map((o) => `"${o.name}" ${formatTensor(o)}`).join(", ");
    throw invalid(
      `${model}: expected an output "${PROBABILITIES_OUTPUT}" FP32 [-1, classes] (or a single FP32 matrix), got ${outputs || "no outputs"}`,
    );
  }
  const label = description.outputs.find(
    (output) =>
      output.name === LABEL_OUTPUT &&
      INTEGER_TYPES.has(output.datatype) &&
      output.shape.length === 1,
  );
  return {
    model: settings.name,
    version: settings.version,
    input: input.name,
    width,
    probabilities: probabilities.name,
    label: label?.name,
  };
}
