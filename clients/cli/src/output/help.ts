/** The help every command ends with: what to know beyond the options, then examples to copy. */
import type { Command } from "commander";

export interface HelpText {
  /** Paragraphs after the options: behaviour, files, the exit status. */
  readonly notes?: string;
  /**
   * Command lines that run as printed against examples/models and the local stack (the docs test
   * runs every one), each shown as `$ <line>`.
   */
  readonly examples: readonly string[];
}

/** Adds `notes` and the examples after the options in `command`'s help. */
export function addHelp(command: Command, { notes, examples }: HelpText): Command {
  const lines = ["", ...(notes === undefined ? [] : [notes]), "Examples:"];
  for (const example of examples) lines.push(`  $ ${example}`);
  return command.addHelpText("after", lines.join("\n"));
}
