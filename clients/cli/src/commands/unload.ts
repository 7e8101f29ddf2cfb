/** `sluice unload`: unloads a model; it stays in the repository and can be loaded again. */
import type { Command } from "commander";
import {
  type ConnectionFlags,
  addConnectionOptions,
  print,
  runAction,
  withClient,
} from "./common.js";

interface UnloadFlags extends ConnectionFlags {
  unloadDependents?: boolean;
}

export function registerUnload(program: Command): void {
  const command = program
    .command("unload <model>")
    .description("unload a model; in-flight requests finish first")
    .option("--unload-dependents", "also unload the models that depend on it");
  addConnectionOptions(command).addHelpText(
    "after",
    `
Examples:
  $ SLUICE_ADMIN_TOKEN=s3cret-token sluice unload fraud
  $ sluice unload fraud --url sluice.internal:8001 --tls-ca ca.pem`,
  );
  command.action((model: string, flags: UnloadFlags, self: Command) =>
    runAction(self, async () => {
      const options = flags.unloadDependents === true ? { unloadDependents: true } : {};
      await withClient(self, flags, (client) => client.unloadModel(model, options));
      print(self, `unloaded ${model}`);
    }),
  );
}
