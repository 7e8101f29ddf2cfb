#!/usr/bin/env node
/** Entry point of the `sluice` command (bin/sluice.js loads the built copy of this file). */
import { CommanderError } from "commander";
import { createProgram } from "./program.js";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
}
