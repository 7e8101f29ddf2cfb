/**
 * One `up` or `down` at a time per state folder: two test processes calling ensureStack together
 * must not both spawn a Kafka on the same port. A lock left by a process that died is taken over.
 */
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { StackError } from "./stack-error.js";
import { lockPath } from "./stack-paths.js";

const POLL_MS = 200;
/** Writing a pid takes microseconds; a lock still empty after this was left by a killed process. */
const EMPTY_LOCK_STALE_MS = 5_000;

/** Runs `body` holding the state folder's lock, waiting at most `timeoutMs` to get it. */
export async function withStateLock<T>(
  stateDir: string,
  timeoutMs: number,
  body: () => Promise<T>,
): Promise<T> {
  await mkdir(stateDir, { recursive: true });
  const path = lockPath(stateDir);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isInteger(holder) && !alive(holder)) {
      await rm(path, { force: true }); // its holder died holding it
      continue;
    }
    // No pid yet: its holder is between creating and writing it, or died right there.
    if (!Number.isInteger(holder) && (await ageMs(path)) > EMPTY_LOCK_STALE_MS) {
      await rm(path, { force: true });
      continue;
    }
    if (performance.now() >= deadline) {
      throw new StackError(
        "timeout",
        `timed out after ${timeoutMs} ms waiting for ${path}: expected it free, got it held by ${Number.isInteger(holder) ? `pid ${holder}` : "a process that wrote no pid"} (another \`sluice stack up\` or \`down\`)`,
      );
    }
    await sleep(POLL_MS);
  }
  try {
    return await body();
  } finally {
    await rm(path, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function ageMs(path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}
