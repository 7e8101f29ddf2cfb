/**
 * Servers under test run in child processes, so the load generator and the server never share an
 * event loop (on one loop, the client's work would be counted as the server's and vice versa).
 *
 * A child is a TypeScript script run like the benchmark itself; it prints one JSON line
 * `{"benchReady": {...}}` once it listens. Every child and temp folder is registered here and torn
 * down by `cleanUp()` (called in the benchmark's `finally`) and on SIGINT/SIGTERM. Children also exit
 * on their own when their stdin closes, so even a parent killed with SIGKILL leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The sidecar child runs the server module at this path instead of @sluice/server when set. */
export const SERVER_MODULE_ENV = "SLUICE_BENCH_SERVER";

/** Model loads and warm-ups (the MLP warms up at 512 rows) finish well within this even on a busy machine. */
const READY_TIMEOUT_MS = 120_000;
/** A child that does not drain and exit on SIGTERM within this is killed. */
const STOP_TIMEOUT_MS = 15_000;

export interface ChildServer<R> {
  readonly pid: number;
  /** Resolves when the child has exited, with its exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** What the child printed under `benchReady`. */
  readonly ready: R;
  /** SIGTERM, wait for a graceful exit (a CPU profile is written then), SIGKILL after a timeout. */
  stop(): Promise<void>;
}

export interface StartChildOptions {
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** Echo the child's other output lines to stderr. @default false */
  readonly verbose?: boolean;
  /** Extra environment variables for the child. */
  readonly env?: Record<string, string>;
  /** Each stdout line other than the ready line, e.g. a result the child prints before it exits. */
  readonly onLine?: (line: string) => void;
  /**
   * Runs `<executable> <script> ...args` instead of node with tsx, for a child in another language
   * that speaks the same protocol (the article variant's Python). `nodeFlags` are then ignored.
   */
  readonly executable?: string;
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Starts `node --conditions=source --import tsx <script> ...args` and waits for its ready line. */
export async function startChild<R>(
  script: string,
  args: readonly string[],
  options: StartChildOptions = {},
): Promise<ChildServer<R>> {
  const child = spawn(
    options.executable ?? process.execPath,
    options.executable !== undefined
      ? [script, ...args]
      : ["--conditions=source", "--import", "tsx", ...(options.nodeFlags ?? []), script, ...args],
    { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } },
  );
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  void exited.then(() => children.delete(child));
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    if (options.verbose) process.stderr.write(`[${script}] ${line}\n`);
  };
  createInterface({ input: child.stderr }).on("line", keep);

  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script}: not ready after ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      if (line.startsWith('{"benchReady"')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { benchReady: R }).benchReady);
      } else if (options.onLine !== undefined) {
        options.onLine(line);
      } else {
        keep(line);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${script} exited (${signal ?? `code ${code}`}) before it was ready; its last output:\n${tail.join("\n")}`,
        ),
      );
    });
  }).catch(async (error: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw error;
  });

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    exited,
    ready,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Registers a temp folder to remove in `cleanUp()` and on a signal. */
export function removeLater(dir: string): void {
  tempDirs.add(dir);
}

/** Kills every child still running and removes the registered temp folders; synchronous so signal handlers can use it. */
export function cleanUp(): void {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** On Ctrl-C or SIGTERM: tear everything down and exit with the conventional status. */
export function cleanUpOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the benchmark's servers\n`);
      cleanUp();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

/**
 * For child scripts: runs `stop` then exits when the parent asks (SIGTERM/SIGINT) or goes away
 * (stdin closes), so no server outlives the benchmark.
 */
export function exitWithParent(stop: () => Promise<void>): void {
  let stopping = false;
  const exit = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stopping failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", exit);
  process.once("SIGINT", exit);
  process.stdin.on("end", exit);
  process.stdin.resume();
}

/** For child scripts: announces readiness to `startChild`. */
export function announceReady(ready: unknown): void {
  process.stdout.write(`${JSON.stringify({ benchReady: ready })}\n`);
}
