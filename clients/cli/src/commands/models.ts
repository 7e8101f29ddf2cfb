/**
 * `sluice models`: the repository index, with what each ready version expects and returns and
 * the labels that point at it.
 */
import type { Command } from "commander";
import {
  InferenceError,
  type InferenceClient,
  type ModelMetadata,
  type RepositoryModel,
  status,
} from "@sluice/client";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";
import { labelsOf, tensorsSummary } from "../output/model-summary.js";
import { formatTable } from "../output/table.js";

interface ModelsFlags extends ConnectionFlags {
  ready?: boolean;
  json?: boolean;
}

/** One row of the listing: the index entry, and for a ready version its labels and tensors. */
interface ModelRow extends RepositoryModel {
  labels: string[];
  inputs?: ModelMetadata["inputs"];
  outputs?: ModelMetadata["outputs"];
}

export function registerModels(program: Command): void {
  registerClientCommand<ModelsFlags>(program, {
    name: "models",
    description:
      "list the models in the server's repository: versions, labels, state, inputs and outputs",
    options: (command) =>
      command
        .option("--ready", "only models that are ready for inference")
        .option("--json", "print the listing as JSON"),
    notes: "Inputs and outputs are shown for ready versions; `sluice metadata MODEL` has details.",
    examples: ["sluice models", "sluice models --ready --json"],
    run: async ({ client, flags, print, printJson }) => {
      const readyOnly = flags.ready === true;
      const rows = await describeModels(client, await client.repositoryIndex({ readyOnly }));
      if (flags.json === true) {
        printJson(rows);
        return;
      }
      if (rows.length === 0) {
        print(readyOnly ? "no models are ready" : "no models in the repository");
        return;
      }
      const table = rows.map((row) => [
        row.name,
        row.version || "-",
        row.labels.join(",") || "-",
        row.state,
        row.inputs === undefined ? "-" : tensorsSummary(row.inputs),
        row.outputs === undefined ? "-" : tensorsSummary(row.outputs),
        row.reason,
      ]);
      print(
        formatTable(["NAME", "VERSION", "LABELS", "STATE", "INPUTS", "OUTPUTS", "REASON"], table),
      );
    },
  });
}

/** Adds labels (one ModelConfig per model) and tensors (one ModelMetadata per ready version). */
async function describeModels(
  client: InferenceClient,
  index: readonly RepositoryModel[],
): Promise<ModelRow[]> {
  const readyModels = [...new Set(index.filter(isReady).map((m) => m.name))];
  const labels = new Map(
    await Promise.all(
      readyModels.map(async (name) => [name, await gone(client.versionLabels(name))] as const),
    ),
  );
  return Promise.all(
    index.map(async (model): Promise<ModelRow> => {
      const row: ModelRow = {
        ...model,
        labels: labelsOf(model.version, labels.get(model.name) ?? {}),
      };
      if (!isReady(model)) return row;
      const metadata = await gone(client.modelMetadata(model.name, model.version || undefined));
      return metadata === undefined
        ? row
        : { ...row, inputs: metadata.inputs, outputs: metadata.outputs };
    }),
  );
}

function isReady(model: RepositoryModel): boolean {
  return model.state === "READY";
}

/** A version unloaded between the index and this call is shown without details, not an error. */
async function gone<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof InferenceError && error.status === status.NOT_FOUND) return undefined;
    throw error;
  }
}
