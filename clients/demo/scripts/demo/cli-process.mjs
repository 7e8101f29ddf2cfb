// The demo's children: `sluice` commands run from the built CLI, each in its own process group so
// a Ctrl-C in the terminal reaches only the demo, which then stops them in order (load generator,
// consumer, sidecar) instead of all at once.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../../cli/bin/sluice.js", import.meta.url));
/** Lines kept per child, shown when it fails: enough for a stack trace. */
const KEPT_LINES = 40;
/** pino numbers its levels (40) by default; Sluice's logs name them ("warn"). */
const WARN_LEVELS = new Set([40, 50, 60, "warn", "error", "fatal"]);

/** Every child still running, killed outright if the demo itself exits without stopping them. */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Starts `sluice <args>`. `onWarning` receives the child's warning and error log lines (JSON logs
 * on stdout or stderr), as `what: message`.
 */
export function startCli(name, args, { cwd, onWarning }) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const lines = [];
  const waiters = [];
  const stdout = [];
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once("error", (error) => {
      running.delete(child);
      lines.push(`cannot start: ${error.message}`);
      resolve({ code: null, signal: null });
    });
  });
  const onLine = (line, stream) => {
    if (stream === "stdout") stdout.push(line);
    lines.push(line);
    if (lines.length > KEPT_LINES) lines.shift();
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = undefined;
    }
    if (entry !== undefined && WARN_LEVELS.has(entry.level)) {
      const why = entry.reason ?? entry.err?.message ?? entry.error;
      onWarning?.(`${name}: ${entry.msg}${why === undefined ? "" : `: ${why}`}`);
    }
    for (const waiter of [...waiters]) {
      if (waiter.match(entry, line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(entry ?? line);
      }
    }
  };
  createInterface({ input: child.stdout }).on("line", (line) => onLine(line, "stdout"));
  createInterface({ input: child.stderr }).on("line", (line) => onLine(line, "stderr"));

  return {
    name,
    command: `sluice ${args.join(" ")}`,
    exited,
    /** Lines printed to stdout so far. */
    stdout,
    /** Whether the process still runs. */
    get running() {
      return child.exitCode === null && child.signalCode === null && running.has(child);
    },
    /** The last lines it printed, for an error message. */
    tail: () => lines.slice(-15).join("\n"),
    /**
     * Resolves with the first line (parsed when JSON) for which `match(entry, line)` holds;
     * rejects when the process exits first or `timeoutMs` passes.
     */
    waitFor(what, match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          fail(`${name} did not report ${what} within ${timeoutMs / 1000} s`);
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
        };
        const fail = (message) => {
          if (!waiters.includes(waiter)) return;
          waiters.splice(waiters.indexOf(waiter), 1);
          clearTimeout(timer);
          reject(new Error(`${message}; its last lines:\n${lines.slice(-15).join("\n")}`));
        };
        waiters.push(waiter);
        void exited.then(({ code, signal }) =>
          fail(`${name} exited (${signal ?? `code ${code}`}) before it reported ${what}`),
        );
      });
    },
    /**
     * SIGTERM (each command's graceful stop), then SIGKILL after `graceMs`. Resolves with how it
     * exited, `killed` true when it had to be killed.
     */
    async stop(graceMs) {
      if (!this.running) return { ...(await exited), killed: false };
      child.kill("SIGTERM");
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve("late"), graceMs);
      });
      const outcome = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (outcome !== "late") return { ...outcome, killed: false };
      child.kill("SIGKILL");
      return { ...(await exited), killed: true };
    },
    /** SIGKILL, for a second Ctrl-C. */
    kill() {
      if (this.running) child.kill("SIGKILL");
    },
  };
}
