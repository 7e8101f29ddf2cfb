#!/usr/bin/env node
/** Entry point of the `sluice` command (bin/sluice.js loads the built copy of this file). */
import { watchLauncher } from "./launcher-watch.js";
import { runSluice } from "./program.js";

// npx and npm run do not pass SIGTERM on to the command: under them it watches npm instead.
watchLauncher();
// A command that succeeded ends when its work does (servers closed, spans exported); only a
// failure, a usage error or a status command's answer exits at once with its code.
const code = await runSluice(process.argv, { from: "node" });
// stdout into a pipe is written asynchronously: exiting at once cut a long report off (a failed
// `sluice verify --json` listing a million missing ids lost all but its first 290 KB). The empty
// write's callback runs once everything written before it is out.
if (code !== 0) process.stdout.write("", () => process.exit(code));
