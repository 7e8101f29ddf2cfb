/**
 * Finds `redis-server`, installing Debian's package when it is missing and this process may (root
 * with apt-get); otherwise says how to install it. Other work may run apt-get at the same time, so
 * a held dpkg lock is waited out and retried rather than reported.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StackError } from "./stack-error.js";
import { type CommandResult, findExecutable, runCommand } from "./run-command.js";

/** How long apt-get itself waits for the dpkg lock on each attempt (apt's DPkg::Lock::Timeout). */
const LOCK_WAIT_SECONDS = 60;
/** Pause between attempts that still found the lock held (older apt ignores DPkg::Lock::Timeout). */
const RETRY_PAUSE_MS = 5_000;

const HOW_TO_INSTALL =
  "install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis), or set REDIS_URL to a Redis that already runs";

export interface InstallOptions {
  timeoutMs: number;
  progress: (line: string) => void;
  /** For tests. @default whether this process runs as root */
  isRoot?: boolean;
  /** For tests. @default runCommand */
  run?: typeof runCommand;
  /** For tests. @default findExecutable */
  find?: (name: string) => string | undefined;
  /** For tests. @default 5 s */
  retryPauseMs?: number;
}

/** The path of redis-server, installed first when needed and possible. */
export async function requireRedisServer({
  timeoutMs,
  progress,
  isRoot = process.getuid?.() === 0,
  run = runCommand,
  find = findExecutable,
  retryPauseMs = RETRY_PAUSE_MS,
}: InstallOptions): Promise<string> {
  const found = find("redis-server");
  if (found !== undefined) return found;
  const aptGet = find("apt-get");
  if (!isRoot || aptGet === undefined) {
    throw new StackError(
      "missing_tool",
      `redis-server is not on PATH (and ${isRoot ? "there is no apt-get" : "this is not root"}, so it is not installed automatically): ${HOW_TO_INSTALL}`,
    );
  }

  progress("redis-server is missing: installing Debian's redis-server package with apt-get");
  const deadline = performance.now() + timeoutMs;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = async (args: string[]): Promise<CommandResult> =>
    run(aptGet, ["-o", `DPkg::Lock::Timeout=${LOCK_WAIT_SECONDS}`, ...args], {
      env,
      timeoutMs: Math.max(1, deadline - performance.now()),
    });
  let updated = false;
  let last: CommandResult | undefined;
  while (performance.now() < deadline) {
    last = await apt(["install", "-y", "--no-install-recommends", "redis-server"]);
    if (last.code === 0) break;
    if (isLockHeld(last.output)) {
      progress("the dpkg lock is held by another apt-get; retrying");
      await sleep(Math.min(retryPauseMs, Math.max(0, deadline - performance.now())));
    } else if (
      !updated &&
      /Unable to locate package|has no installation candidate/.test(last.output)
    ) {
      // A fresh machine has no package lists yet.
      progress("apt-get has no package lists yet: running apt-get update");
      updated = true;
      const update = await apt(["update"]);
      if (update.code !== 0 && !isLockHeld(update.output)) last = update;
    } else {
      break;
    }
  }
  const installed = find("redis-server");
  if (last?.code === 0 && installed !== undefined) {
    progress(`installed redis-server at ${installed}`);
    return installed;
  }
  throw new StackError(
    "missing_tool",
    `installing redis-server with apt-get failed (${last === undefined ? "no attempt finished" : last.timedOut ? `timed out after ${timeoutMs} ms` : `exit code ${last.code}`}); ${HOW_TO_INSTALL}. apt-get's last output:\n${last?.output ?? ""}`,
  );
}

/** apt-get's words for "another apt-get or dpkg holds the lock". */
export function isLockHeld(output: string): boolean {
  return /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock|is another process using it/i.test(
    output,
  );
}
