/** `sluice models`: the repository index as a table. */
import type { Command } from "commander";
import {
  type ConnectionFlags,
  addConnectionOptions,
  formatTable,
  print,
  runAction,
  withClient,
} from "./common.js";

interface ModelsFlags extends ConnectionFlags {
  ready?: boolean;
}

export function registerModels(program: Command): void {
  const command = program
    .command("models")
    .description("list the models in the server's repository with their state")
    .option("--ready", "only models that are ready for inference");
  addConnectionOptions(command).addHelpText(
    "after",
    `
Examples:
  $ sluice models
  $ SLUICE_ADMIN_TOKEN=s3cret-token sluice models --ready --url sluice.internal:8001`,
  );
  command.action((flags: ModelsFlags, self: Command) =>
    runAction(self, async () => {
      const readyOnly = flags.ready === true;
      const models = await withClient(self, flags, (client) =>
        client.repositoryIndex({ readyOnly }),
      );
      if (models.length === 0) {
        print(self, readyOnly ? "no models are ready" : "no models in the repository");
        return;
      }
      const rows = models.map(({ name, version, state, reason }) => [
        name,
        version || "-",
        state,
        reason,
      ]);
      print(self, formatTable(["NAME", "VERSION", "STATE", "REASON"], rows));
    }),
  );
}
