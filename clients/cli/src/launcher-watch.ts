/**
 * `npx sluice consume` (or serve) and SIGTERM. npm exec and npm run start the command through
 * `sh -c`, and on SIGTERM npm hands the signal to that shell only: the shell dies, npm exits, and
 * node, never signalled, is re-parented and keeps running: a consumer still holding its
 * partitions, a sidecar still holding its port. So when npm launched the process it watches its
 * parent, and once the parent is gone it sends itself SIGTERM and stops as the signal would have
 * stopped it (the micro-batch in hand finished and committed, the queued requests answered).
 * Production starts node itself (the Dockerfile's ENTRYPOINT, compose, Kubernetes), where none
 * of this applies.
 */
import { createLogger, type Logger } from "@sluice/kit";

/**
 * How often the parent is looked at: a getppid() call, so cheap; half a second is well inside
 * any orchestrator's grace period between SIGTERM and SIGKILL.
 */
export const PARENT_POLL_MS = 500;

/**
 * Whether npm's script runner started this process: npx and npm exec set `npm_command=exec`, and
 * every command it runs (npm run, npx) gets `npm_lifecycle_event` (`npx` for npx).
 */
export function launchedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env["npm_command"] === "exec" || env["npm_lifecycle_event"] !== undefined;
}

export interface LauncherWatchOptions {
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default PARENT_POLL_MS */
  readonly pollMs?: number;
  /** Says why the process stops. @default a JSON log line on stderr, like the commands' own */
  readonly log?: Logger;
}

/**
 * Under npm, watches the parent process and sends this process SIGTERM when it is gone (its
 * parent id changes: re-parented to init or a subreaper). Returns a function that stops watching;
 * does nothing outside npm or when the parent is already init. The timer never keeps the process
 * alive on its own.
 */
export function watchLauncher(options: LauncherWatchOptions = {}): () => void {
  const parent = process.ppid;
  if (!launchedByNpm(options.env ?? process.env) || parent <= 1) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    const log = options.log ?? createLogger({ name: "sluice" });
    log.info(
      { parentPid: parent },
      "the npm process that started this command exited without passing on its signal: stopping as on SIGTERM",
    );
    process.kill(process.pid, "SIGTERM");
  }, options.pollMs ?? PARENT_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
