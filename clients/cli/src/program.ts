/** The `sluice` program: its global settings and every subcommand (each lives in commands/). */
import { createRequire } from "node:module";
import { Command, CommanderError, type OutputConfiguration } from "commander";
import { errorMessage } from "@sluice/kit";
import { EXIT_STATUS_CODE } from "./output/exit.js";
import { registerBacktest } from "./commands/backtest.js";
import { registerConsume } from "./commands/consume.js";
import { registerHealth } from "./commands/health.js";
import { registerInfer } from "./commands/infer.js";
import { registerLoad } from "./commands/load.js";
import { registerLoadLookups } from "./commands/load-lookups.js";
import { registerMetadata } from "./commands/metadata.js";
import { registerModels } from "./commands/models.js";
import { registerProduce } from "./commands/produce.js";
import { registerRollout } from "./commands/rollout.js";
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
  registerMetadata(program);
  registerLoad(program);
  registerUnload(program);
  registerHealth(program);
  registerStack(program);
  registerConsume(program);
  registerProduce(program);
  registerLoadLookups(program);
  registerVerify(program);
  registerRollout(program);
  registerBacktest(program);
  registerTop(program);
  return program;
}

export interface RunOptions {
  /** "node": `args` is process.argv; "user": only the arguments. @default "user" */
  readonly from?: "node" | "user";
  /** Where the program writes (tests capture it). @default stdout and stderr */
  readonly output?: OutputConfiguration;
}

/**
 * Runs the program as the command line does and resolves with its exit code: 0 done, 1 failed
 * (the error printed as `error: …`), 2 a usage error (printed by commander), or the code a status
 * command answers with (`sluice stack status` exits 3 when nothing runs).
 */
export async function runSluice(
  args: readonly string[],
  options: RunOptions = {},
): Promise<number> {
  try {
    await createProgram(options.output).parseAsync([...args], { from: options.from ?? "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === EXIT_STATUS_CODE) return error.exitCode;
      return error.exitCode === 0 ? 0 : 2;
    }
    const line = `error: ${errorMessage(error)}\n`;
    if (options.output?.writeErr === undefined) process.stderr.write(line);
    else options.output.writeErr(line);
    return 1;
  }
}
