/**
 * How a command ends when it does not simply succeed: a usage error (exit 2, as commander's own),
 * a failure (exit 1, the error printed by program.ts), or a status command's answer (`exitWith`).
 */
import { type Command, CommanderError } from "commander";

/** Exit code for a command line that cannot be run as written (commander uses it too). */
export const EXIT_USAGE = 2;

/** The commander error code of `exitWith`: program.ts exits with its exit code and prints nothing. */
export const EXIT_STATUS_CODE = "sluice.exit";

/** A command line that cannot run as written: reported with exit code 2, like commander's own. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Reports a usage error the way commander reports its own (`error: ...`, exit 2) and stops. */
export function usage(command: Command, message: string): never {
  return command.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: "sluice.usage" });
}

/**
 * Ends the command with `exitCode` and nothing more printed: for commands whose exit code is the
 * answer (`sluice stack status` exits 3 when nothing runs), not a failure to report.
 */
export function exitWith(exitCode: number): never {
  throw new CommanderError(exitCode, EXIT_STATUS_CODE, "");
}

/** Runs an action body, turning a UsageError into a commander usage error (exit 2). */
export async function runAction(command: Command, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof UsageError) usage(command, error.message);
    throw error;
  }
}
