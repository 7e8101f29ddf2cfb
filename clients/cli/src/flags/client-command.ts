/**
 * The one shape of a command that talks to a sidecar: its own options, the connection flags, help
 * ending with examples, and an action that gets a connected client and closes it afterwards. A
 * command file then holds only what is its own: options, help text and what it does.
 */
import type { Command } from "commander";
import type { InferenceClient } from "@sluice/client";
import { runAction } from "../output/exit.js";
import { type HelpText, addHelp } from "../output/help.js";
import { print, printJson } from "../output/print.js";
import { type ConnectionFlags, addConnectionOptions, withClient } from "./connection.js";

/** What a client command's `run` is handed. */
export interface ClientCall<F extends ConnectionFlags> {
  readonly client: InferenceClient;
  /** The command's options and the connection flags, as commander parsed them. */
  readonly flags: F;
  /** The command's arguments, in order (`<model>` first). */
  readonly args: readonly string[];
  /** Writes a line of output (captured in tests). */
  readonly print: (text: string) => void;
  /** Writes `value` as JSON (`--json`). */
  readonly printJson: (value: unknown) => void;
}

export interface ClientCommandSpec<F extends ConnectionFlags> extends HelpText {
  /** Name and arguments, as commander takes them: `"load <model>"`. */
  readonly name: string;
  readonly description: string;
  /** Adds the command's own options; the connection flags follow them. */
  readonly options?: (command: Command) => Command;
  /** What the command does. Throw UsageError for a command line that cannot run (exit 2). */
  readonly run: (call: ClientCall<F>) => Promise<void>;
}

/** Registers a command that talks to a sidecar on `program`. */
export function registerClientCommand<F extends ConnectionFlags>(
  program: Command,
  spec: ClientCommandSpec<F>,
): Command {
  const command = program.command(spec.name).description(spec.description);
  spec.options?.(command);
  addHelp(addConnectionOptions(command), spec);
  return command.action((...params: unknown[]) => {
    // commander passes the arguments, then the options, then the command itself.
    const self = params.at(-1) as Command;
    const flags = self.opts<F>();
    const args = self.processedArgs as string[];
    return runAction(self, () =>
      withClient(self, flags, (client) =>
        spec.run({
          client,
          flags,
          args,
          print: (text) => print(self, text),
          printJson: (value) => printJson(self, value),
        }),
      ),
    );
  });
}
