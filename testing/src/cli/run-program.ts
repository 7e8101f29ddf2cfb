/**
 * The real `sluice` program run in-process, as main.ts runs it: exit codes from commander, output
 * captured. The program comes from the caller (`createProgram` of @sluice/cli), so this kit depends
 * on no application.
 */
import { CommanderError, type Command, type OutputConfiguration } from "commander";

export interface ProgramRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runProgram(
  createProgram: (output: OutputConfiguration) => Command,
  args: readonly string[],
): Promise<ProgramRun> {
  let out = "";
  let err = "";
  const program = createProgram({
    writeOut: (text) => (out += text),
    writeErr: (text) => (err += text),
  });
  try {
    await program.parseAsync([...args], { from: "user" });
    return { code: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, out, err };
    return { code: 1, out, err: `${err}error: ${(error as Error).message}\n` };
  }
}
