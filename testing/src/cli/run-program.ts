/**
 * A command-line program run in-process with its output captured: `run` is the program's own entry
 * (`runSluice` of @sluice/cli, which main.ts calls too), given where to write, resolving with the
 * exit code. This kit depends on no application.
 */
import type { OutputConfiguration } from "commander";

export interface ProgramRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function captured(
  run: (output: OutputConfiguration) => Promise<number>,
): Promise<ProgramRun> {
  let out = "";
  let err = "";
  const code = await run({
    writeOut: (text) => (out += text),
    writeErr: (text) => (err += text),
  });
  return { code, out, err };
}
