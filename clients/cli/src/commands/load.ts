/** `sluice load`: loads (or reloads) a model from the server's repository. */
import type { Command } from "commander";
import {
  type ConnectionFlags,
  addConnectionOptions,
  print,
  runAction,
  withClient,
} from "./common.js";

export function registerLoad(program: Command): void {
  const command = program
    .command("load <model>")
    .description("load a model from the server's repository, or reload it if it is loaded");
  addConnectionOptions(command).addHelpText(
    "after",
    `
The server must run with --model-control-mode explicit; with an admin token set, pass it.
Examples:
  $ SLUICE_ADMIN_TOKEN=s3cret-token sluice load fraud
  $ sluice load fraud --token s3cret-token --timeout 300000`,
  );
  command.action((model: string, flags: ConnectionFlags, self: Command) =>
    runAction(self, async () => {
      await withClient(self, flags, (client) => client.loadModel(model));
      print(self, `loaded ${model}`);
    }),
  );
}
