/** `sluice models`: the repository index as a table. */
import type { Command } from "commander";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";
import { formatTable } from "../output/table.js";

interface ModelsFlags extends ConnectionFlags {
  ready?: boolean;
}

export function registerModels(program: Command): void {
  registerClientCommand<ModelsFlags>(program, {
    name: "models",
    description: "list the models in the server's repository with their state",
    options: (command) => command.option("--ready", "only models that are ready for inference"),
    examples: [
      "sluice models",
      "SLUICE_ADMIN_TOKEN=s3cret-token sluice models --ready --url sluice.internal:8001",
    ],
    run: async ({ client, flags, print }) => {
      const readyOnly = flags.ready === true;
      const models = await client.repositoryIndex({ readyOnly });
      if (models.length === 0) {
        print(readyOnly ? "no models are ready" : "no models in the repository");
        return;
      }
      const rows = models.map(({ name, version, state, reason }) => [
        name,
        version || "-",
        state,
        reason,
      ]);
      print(formatTable(["NAME", "VERSION", "STATE", "REASON"], rows));
    },
  });
}
