/**
 * `sluice metadata`: what a model expects and returns (ModelMetadata, as Triton's clients show it),
 * with its version labels when the server has them.
 */
import type { Command } from "commander";
import { type TensorMetadata, formatShape } from "@sluice/client";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";
import { inputTemplate, labelsOf } from "../output/model-summary.js";
import { formatTable } from "../output/table.js";

interface MetadataFlags extends ConnectionFlags {
  version?: string;
  json?: boolean;
}

export function registerMetadata(program: Command): void {
  registerClientCommand<MetadataFlags>(program, {
    name: "metadata <model>",
    description: "show a model's inputs and outputs (name, datatype, shape), versions and labels",
    options: (command) =>
      command
        .option(
          "--version <version>",
          "version number or label (default: the server's choice, the newest ready version)",
        )
        .option(
          "--json",
          "print KServe V2 model metadata as JSON, with the labels as label → version",
        ),
    notes: [
      "A dimension of -1 takes any size: the first is the batch (rows per request). The labels",
      "come from the model's config.yaml, through ModelConfig's parameters (none from a server",
      "without them).",
    ].join("\n"),
    examples: ["sluice metadata fraud", "sluice metadata fraud --version canary --json"],
    run: async ({ client, flags, args: [model = ""], print, printJson }) => {
      const [metadata, labels] = await Promise.all([
        client.modelMetadata(model, flags.version),
        client.versionLabels(model),
      ]);
      if (flags.json === true) {
        printJson({ ...metadata, labels });
        return;
      }
      const versions = metadata.versions.map((version) => {
        const names = labelsOf(version, labels);
        return names.length === 0 ? version : `${version} (${names.join(", ")})`;
      });
      const row = (kind: string) => (t: TensorMetadata) => [
        kind,
        t.name,
        t.datatype,
        formatShape(t.shape),
      ];
      const tensors = [
        ...metadata.inputs.map(row("input")),
        ...metadata.outputs.map(row("output")),
      ];
      print(
        [
          `model ${metadata.name}, platform ${metadata.platform}`,
          `versions: ${versions.join(", ") || "none ready"}`,
          "",
          formatTable(["TENSOR", "NAME", "DATATYPE", "SHAPE"], tensors),
          "",
          `infer with: sluice infer ${metadata.name} ${metadata.inputs.map((t) => `--input ${inputTemplate(t)}`).join(" ")}`,
        ].join("\n"),
      );
    },
  });
}
