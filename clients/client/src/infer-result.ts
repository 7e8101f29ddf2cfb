import { InferenceError, type ModelInferResponse } from "@sluice/proto";
import { type InferOutput, decodeOutputs } from "./tensors.js";

/** The answer to one inference. */
export interface InferResult {
  modelName: string;
  modelVersion: string;
  id: string;
  /** Outputs by name, in the order the server sent them. */
  outputs: Map<string, InferOutput>;
  /** The output called `name`; throws INVALID_ARGUMENT naming the outputs present when there is none. */
  output(name: string): InferOutput;
}

/** Decodes a ModelInfer response into an {@link InferResult}. */
export function toInferResult(response: ModelInferResponse): InferResult {
  const outputs = decodeOutputs(response);
  return {
    modelName: response.modelName,
    modelVersion: response.modelVersion,
    id: response.id,
    outputs,
    output(name: string): InferOutput {
      const output = outputs.get(name);
      if (output !== undefined) return output;
      const present =
        outputs.size === 0 ? "none" : [...outputs.keys()].map((key) => `"${key}"`).join(", ");
      throw InferenceError.invalidArgument(
        `output "${name}" is not in the response of model "${response.modelName}"; outputs present: ${present}`,
      );
    },
  };
}
