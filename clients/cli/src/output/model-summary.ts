/** How `sluice metadata` and `sluice models` show what a model expects and which labels it has. */
import { type TensorMetadata, formatShape } from "@sluice/client";

/** `features FP32 [-1, 20]`, several joined by ", ". */
export function tensorsSummary(tensors: readonly TensorMetadata[]): string {
  return tensors.map((t) => `${t.name} ${t.datatype} ${formatShape(t.shape)}`).join(", ");
}

/** The labels that point at `version`, e.g. `stable`; several joined by ",". */
export function labelsOf(version: string, labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels)
    .filter(([, labelled]) => labelled === version)
    .map(([label]) => label);
}

/**
 * An `--input` for `sluice infer` with the tensor's name, datatype and shape (a variable dimension
 * as 1), its values left to the user: `features:FP32:1x20:<20 values>`.
 */
export function inputTemplate({ name, datatype, shape }: TensorMetadata): string {
  const dims = shape.map((dim) => (dim < 0 ? 1 : dim));
  const count = dims.reduce((product, dim) => product * dim, 1);
  return `${name}:${datatype}:${dims.join("x")}:<${count} value${count === 1 ? "" : "s"}>`;
}
