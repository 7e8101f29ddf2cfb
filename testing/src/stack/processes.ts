/**
 * Detached background processes and their pid files. A pid file alone is not trusted: after a
 * reboot its pid may belong to anything, so a process counts as ours only while its command line
 * still contains a marker recorded at start (a path inside the state folder, or the listen address).
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { STACK_POLL_MS, StackError, stackTimeout } from "./stack-error.js";
import { StopWaiting, waitFor } from "../wait.js";

/** After SIGKILL the kernel frees a process at once; this only bounds a process stuck in the kernel. */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 50;

/** What the stack records about a service it started: its pid file, as JSON. */
export interface ServiceRecord {
  pid: number;
  port: number;
  /** Strings the process's command line must contain for the pid to still be this service. */
  markers: string[];
  log: string;
  startedAt: string;
  /** Kafka only. */
  controllerPort?: number;
  /** Kafka only: the cluster id its storage was formatted with, checked by the health probe. */
  clusterId?: string;
}

export async function readRecord(path: string): Promise<ServiceRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const record = JSON.parse(text) as Partial<ServiceRecord>;
    if (
      typeof record.pid === "number" &&
      typeof record.port === "number" &&
      Array.isArray(record.markers)
    ) {
      return record as ServiceRecord;
    }
  } catch {
    // A torn write from a killed `up`: treated like no record, the process check decides.
  }
  return undefined;
}

/** Writes atomically (temp file, then rename), so a reader never sees half a record. */
export async function writeRecord(path: string, record: ServiceRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(temp, path);
}

/**
 * Records a service just spawned (with its log and start time) and waits until `healthy` answers
 * within the start timeout; if it never does, stops the process and removes the record, so a
 * failed start leaves nothing behind. Returns the record.
 */
export async function recordUntilHealthy(
  paths: { readonly record: string; readonly log: string },
  service: Omit<ServiceRecord, "log" | "startedAt">,
  healthy: (record: ServiceRecord, timeoutMs: number) => Promise<unknown>,
  timeouts: { readonly startTimeoutMs: number; readonly stopTimeoutMs: number },
): Promise<ServiceRecord> {
  const record: ServiceRecord = { ...service, log: paths.log, startedAt: new Date().toISOString() };
  await writeRecord(paths.record, record);
  try {
    await healthy(record, timeouts.startTimeoutMs);
  } catch (error) {
    await stopProcess(record.pid, record.markers, timeouts.stopTimeoutMs).catch(() => undefined);
    await removeRecord(paths.record);
    throw error;
  }
  return record;
}

/**
 * Polls `probe` until it answers (a value other than undefined or false) within `timeoutMs`, with
 * the log's tail in the timeout's message; fails at once with `exited` (and the log's tail) when
 * the recorded process is gone.
 */
export async function waitForService<T>(
  record: ServiceRecord,
  timeoutMs: number,
  service: {
    /** What is waited for, for the timeout's message. */
    readonly until: string;
    /** Why it failed when the process is gone. */
    readonly exited: string;
    readonly probe: () => Promise<T | undefined | false>;
  },
): Promise<T> {
  return waitFor(
    service.until,
    async () => {
      if (!isRunning(record.pid, record.markers)) {
        throw new StopWaiting(
          new StackError("start_failed", `${service.exited}; ${await logHint(record.log)}`),
        );
      }
      return service.probe();
    },
    {
      timeoutMs,
      intervalMs: STACK_POLL_MS,
      hint: () => logHint(record.log),
      timeoutError: stackTimeout,
    },
  );
}

export async function removeRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** The command line of `pid`, or undefined when no such process runs (zombies included). */
export function commandLine(pid: number): string | undefined {
  if (existsSync("/proc/self/cmdline")) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // The state letter follows the parenthesised command name, which may itself contain ") ".
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return undefined;
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      return undefined;
    }
  }
  // No /proc (macOS): ps prints the full command, or nothing and status 1 when there is no such pid.
  const ps = spawnSync("ps", ["-o", "stat=,command=", "-p", String(pid)], { encoding: "utf8" });
  const line = ps.status === 0 ? ps.stdout.trim() : "";
  if (line === "" || line.startsWith("Z")) return undefined;
  return line.replace(/^\S+\s+/, "");
}

/** True while `pid` runs and its command line contains every marker. */
export function isRunning(pid: number, markers: readonly string[]): boolean {
  const command = commandLine(pid);
  return command !== undefined && markers.every((marker) => command.includes(marker));
}

export interface SpawnDetachedOptions {
  /** stdout and stderr go here; the file is truncated first, so it holds this run only. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `command` in its own session, detached from this process and its terminal, with output
 * to `logFile`, and resolves with its pid once it has been executed. It keeps running when this
 * process exits; nothing here waits for it.
 */
export async function spawnDetached(
  command: string,
  args: readonly string[],
  { logFile, cwd, env }: SpawnDetachedOptions,
): Promise<number> {
  await mkdir(dirname(logFile), { recursive: true });
  const log = openSync(logFile, "w");
  try {
    const child = spawn(command, args, {
      cwd,
      env,
      detached: true,
      stdio: ["ignore", log, log],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) =>
        reject(
          new StackError("start_failed", `cannot run ${command}: ${error.message}`, {
            cause: error,
          }),
        ),
      );
    });
    child.unref();
    if (child.pid === undefined)
      throw new StackError("start_failed", `${command} started without a pid`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export type StopOutcome = "stopped" | "killed" | "not-running";

/**
 * SIGTERM, then up to `timeoutMs` for a graceful exit, then SIGKILL. Resolves with how it ended;
 * rejects (STOP_FAILED) only if the process outlives SIGKILL.
 */
export async function stopProcess(
  pid: number,
  markers: readonly string[],
  timeoutMs: number,
): Promise<StopOutcome> {
  if (!isRunning(pid, markers)) return "not-running";
  signal(pid, "SIGTERM");
  if (await exited(pid, markers, timeoutMs)) return "stopped";
  signal(pid, "SIGKILL");
  if (await exited(pid, markers, KILL_WAIT_MS)) return "killed";
  throw new StackError(
    "stop_failed",
    `pid ${pid} still runs ${KILL_WAIT_MS} ms after SIGKILL (it was sent SIGTERM ${timeoutMs} ms before)`,
  );
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

async function exited(
  pid: number,
  markers: readonly string[],
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isRunning(pid, markers)) {
    if (performance.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** The last `lines` lines of a log file, for error messages; empty when there is no file. */
export async function tail(path: string, lines = 15): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return "";
  }
  try {
    // The end of a log is enough: read at most the last 16 KiB instead of a whole broker log.
    const { size } = await handle.stat();
    const length = Math.min(size, 16_384);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } finally {
    await handle.close();
  }
}

/** "see <log>" plus its last lines, indented, for a timeout or start failure message. */
export async function logHint(path: string, lines = 15): Promise<string> {
  const last = await tail(path, lines);
  return last === ""
    ? `log: ${path} (empty)`
    : `log: ${path}, last lines:\n${last.replace(/^/gm, "    ")}`;
}
