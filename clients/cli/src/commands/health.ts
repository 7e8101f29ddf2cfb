/** `sluice health`: the gRPC health check, for container and orchestrator probes. */
import type { Command } from "commander";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";

interface HealthFlags extends ConnectionFlags {
  service: string;
}

export function registerHealth(program: Command): void {
  registerClientCommand<HealthFlags>(program, {
    name: "health",
    description: "check the server's gRPC health service; exits 0 only when it is SERVING",
    options: (command) =>
      command.option("--service <name>", 'service to check ("" is the whole server)', ""),
    notes:
      "Exit status: 0 SERVING, 1 anything else (NOT_SERVING while starting or draining, unreachable).",
    examples: [
      "sluice health",
      "sluice health --url 127.0.0.1:8001 --service inference.GRPCInferenceService --timeout 2000",
    ],
    run: async ({ client, flags, print }) => {
      const state = await client.health(flags.service);
      print(state);
      if (state !== "SERVING") throw new Error(`health of "${flags.service}" is ${state}`);
    },
  });
}
