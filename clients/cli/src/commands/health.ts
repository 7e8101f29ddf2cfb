/** `sluice health`: the gRPC health check, for container and orchestrator probes. */
import type { Command } from "commander";
import {
  type ConnectionFlags,
  addConnectionOptions,
  print,
  runAction,
  withClient,
} from "./common.js";

export function registerHealth(program: Command): void {
  const command = program
    .command("health")
    .description("check the server's gRPC health service; exits 0 only when it is SERVING")
    .option("--service <name>", 'service to check ("" is the whole server)', "");
  addConnectionOptions(command).addHelpText(
    "after",
    `
Exit status: 0 SERVING, 1 anything else (NOT_SERVING while starting or draining, unreachable).
Examples:
  $ sluice health
  $ sluice health --url 127.0.0.1:8001 --service inference.GRPCInferenceService --timeout 2000`,
  );
  command.action((flags: ConnectionFlags & { service: string }, self: Command) =>
    runAction(self, async () => {
      const state = await withClient(self, flags, (client) => client.health(flags.service));
      print(self, state);
      if (state !== "SERVING") throw new Error(`health of "${flags.service}" is ${state}`);
    }),
  );
}
