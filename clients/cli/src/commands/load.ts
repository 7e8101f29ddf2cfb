/** `sluice load`: loads (or reloads) a model from the server's repository. */
import type { Command } from "commander";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";

export function registerLoad(program: Command): void {
  registerClientCommand<ConnectionFlags>(program, {
    name: "load <model>",
    description: "load a model from the server's repository, or reload it if it is loaded",
    notes:
      "The server must run with --model-control-mode explicit; with an admin token set, pass it.",
    examples: [
      "SLUICE_ADMIN_TOKEN=s3cret-token sluice load fraud",
      "sluice load fraud --token s3cret-token --timeout 300000",
    ],
    run: async ({ client, args: [model = ""], print }) => {
      await client.loadModel(model);
      print(`loaded ${model}`);
    },
  });
}
