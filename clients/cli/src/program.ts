/** The `sluice` program: its global settings and every subcommand (each lives in commands/). */
import { createRequire } from "node:module";
import { Command, type OutputConfiguration } from "commander";
import { registerConsume } from "./commands/consume.js";
import { registerHealth } from "./commands/health.js";
import { registerInfer } from "./commands/infer.js";
import { registerLoad } from "./commands/load.js";
import { registerModels } from "./commands/models.js";
import { registerProduce } from "./commands/produce.js";
import { registerServe } from "./commands/serve.js";
import { registerStack } from "./commands/stack.js";
import { registerTop } from "./commands/top.js";
import { registerUnload } from "./commands/unload.js";
import { registerVerify } from "./commands/verify.js";

const { version } = createRequire(import.meta.url)("../package.json") as { version: string };

/** `output` redirects what the program and every subcommand print (tests capture it). */
export function createProgram(output?: OutputConfiguration): Command {
  const program = new Command("sluice")
    .description(
      "Sluice: real-time ML prediction for Kafka — inference sidecar, consumers and tools",
    )
    .version(version)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    // Subcommand options stay the subcommand's: `sluice infer m --version 2` is not the CLI's --version.
    .enablePositionalOptions();
  // Set before the subcommands exist: commander copies it into each one as it is created.
  if (output !== undefined) program.configureOutput(output);
  registerServe(program);
  registerInfer(program);
  registerModels(program);
  registerLoad(program);
  registerUnload(program);
  registerHealth(program);
  registerStack(program);
  registerConsume(program);
  registerProduce(program);
  registerVerify(program);
  registerTop(program);
  return program;
}
