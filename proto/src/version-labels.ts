/**
 * Version labels (`stable`, `canary`) on the wire. Neither the Open Inference Protocol nor Triton
 * has labels, so Sluice carries a model's labels where both let a server say more without a new
 * field: the free-form `parameters` map of the ModelConfig response (field 14 of Triton's
 * `model_config.proto`), one entry per label, `sluice.version_label.<label>` → the version number
 * as `string_value`. Triton's and KServe's clients decode it as any other parameter; a client that
 * does not look for it loses nothing.
 */
import { create } from "@bufbuild/protobuf";
import { type ModelParameter, ModelParameterSchema } from "./gen/inference/model_config_pb.js";

/** The key of a label's entry in ModelConfig.parameters is this prefix and the label. */
export const VERSION_LABEL_PARAMETER_PREFIX = "sluice.version_label.";

/** ModelConfig.parameters entries for `labels` (label → version number). */
export function versionLabelParameters(
  labels: ReadonlyMap<string, number>,
): Record<string, ModelParameter> {
  const parameters: Record<string, ModelParameter> = {};
  for (const [label, version] of labels) {
    parameters[`${VERSION_LABEL_PARAMETER_PREFIX}${label}`] = create(ModelParameterSchema, {
      stringValue: String(version),
    });
  }
  return parameters;
}

/** The labels in a ModelConfig's parameters, label → version, in the server's order. */
export function versionLabelsOf(
  parameters: Readonly<Record<string, ModelParameter>>,
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, parameter] of Object.entries(parameters)) {
    if (key.startsWith(VERSION_LABEL_PARAMETER_PREFIX)) {
      labels[key.slice(VERSION_LABEL_PARAMETER_PREFIX.length)] = parameter.stringValue;
    }
  }
  return labels;
}
