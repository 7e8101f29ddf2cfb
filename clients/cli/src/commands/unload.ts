/** `sluice unload`: unloads a model; it stays in the repository and can be loaded again. */
import type { Command } from "commander";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";

interface UnloadFlags extends ConnectionFlags {
  unloadDependents?: boolean;
}

export function registerUnload(program: Command): void {
  registerClientCommand<UnloadFlags>(program, {
    name: "unload <model>",
    description: "unload a model; in-flight requests finish first",
    options: (command) =>
      command.option("--unload-dependents", "also unload the models that depend on it"),
    notes:
      "The server must run with --model-control-mode explicit; with an admin token set, pass it.",
    examples: [
      "SLUICE_ADMIN_TOKEN=s3cret-token sluice unload fraud",
      "sluice unload fraud-mlp --url 127.0.0.1:8001 --token s3cret-token",
    ],
    run: async ({ client, flags, args: [model = ""], print }) => {
      const options = flags.unloadDependents === true ? { unloadDependents: true } : {};
      await client.unloadModel(model, options);
      print(`unloaded ${model}`);
    },
  });
}
