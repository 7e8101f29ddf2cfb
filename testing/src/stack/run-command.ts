/** Runs a short-lived tool (mvn, java, apt-get) to completion, bounded in time, capturing its output. */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** How long a timed-out tool gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 5_000;
/** Output kept for error messages: the end of a Maven or apt-get failure is where the reason is. */
const KEEP_LINES = 40;

export interface CommandResult {
  /** null when killed by a signal (a timeout). */
  code: number | null;
  timedOut: boolean;
  /** The last lines of stdout and stderr, interleaved as they came. */
  output: string;
}

export interface RunOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with each complete output line as it arrives (progress). */
  onLine?: (line: string) => void;
}

/** Runs `command` and resolves when it exits or is killed at the deadline; rejects if it cannot start. */
export async function runCommand(
  command: string,
  args: readonly string[],
  { timeoutMs, env, cwd, onLine }: RunOptions,
): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let partial = "";
    let timedOut = false;
    const take = (chunk: Buffer): void => {
      const parts = (partial + chunk.toString("utf8")).split(/\r?\n/);
      partial = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (lines.length > KEEP_LINES) lines.shift();
        onLine?.(line);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (partial !== "") lines.push(partial);
      resolve({ code, timedOut, output: lines.join("\n") });
    });
  });
}

/** The full path of an executable found on PATH (plus the sbin folders root's tools live in), or undefined. */
export function findExecutable(name: string, path = process.env["PATH"] ?? ""): string | undefined {
  const folders = [...path.split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"].filter(
    (folder) => folder !== "",
  );
  for (const folder of folders) {
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}
