/**
 * Test support: the `sluice` CLI as a child process (from source, as a user would run it), its
 * stderr lines, and pipeline files written to a temp folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { REPO_ROOT } from "../paths.js";

const CLI = join(REPO_ROOT, "clients/cli/src/main.ts");

export interface CliProcess {
  readonly child: ChildProcess;
  /** stderr so far, one entry per line. */
  readonly lines: string[];
  /** stdout so far. */
  stdout(): string;
  /** Resolves with the first stderr line matching `pattern` (seen before or after the call). */
  line(pattern: RegExp, timeoutMs: number): Promise<string>;
  /**
   * Resolves with the log line of `sluice consume` saying the pipeline consumes (joined its group,
   * running). @default pipeline "fraud"
   */
  consuming(timeoutMs: number, pipeline?: string): Promise<string>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const line = (pattern: RegExp, timeoutMs: number): Promise<string> => {
    const seen = lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`no stderr line like ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`),
        );
      }, timeoutMs);
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(waiter);
      void exited.then(() => {
        if (!waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`exited before a stderr line like ${pattern}:\n${lines.join("\n")}`));
      });
    });
  };
  return {
    child,
    lines,
    exited,
    stdout: () => stdout,
    consuming(timeoutMs, pipeline = "fraud") {
      // The message is inside a JSON log line: its quotes come escaped.
      const name = pipeline.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return line(new RegExp(String.raw`pipeline \\"${name}\\" consuming`), timeoutMs);
    },
    line,
  };
}

/** Kills the process if it still runs and waits for it to go. */
export async function stopCli(cli: CliProcess | undefined): Promise<void> {
  if (cli === undefined || cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill("SIGKILL");
  await cli.exited;
}

export interface ConfigFolder {
  /** Writes `document` as YAML; resolves with the file's path. */
  write(name: string, document: unknown): Promise<string>;
  /** Writes `text` as it is (a certificate, a password file); resolves with the file's path. */
  writeText(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}

export async function configFolder(): Promise<ConfigFolder> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-pipeline-"));
  return {
    async write(name, document) {
      const path = join(dir, name);
      await writeFile(path, stringify(document));
      return path;
    },
    async writeText(name, text) {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
