/** Where every command writes: commander's output configuration, so tests capture what a user sees. */
import type { Command } from "commander";

/** Writes `text` (a newline added when missing) to the command's standard output. */
export function print(command: Command, text: string): void {
  const line = text.endsWith("\n") ? text : `${text}\n`;
  const output = command.configureOutput();
  if (output.writeOut === undefined) process.stdout.write(line);
  else output.writeOut(line);
}

/** Writes `value` as JSON, two spaces per level: the `--json` form of every command. */
export function printJson(command: Command, value: unknown): void {
  print(command, JSON.stringify(value, null, 2));
}
