/**
 * Bounded polling for a condition, instead of fixed sleeps: on a noisy 2-core machine a fixed sleep
 * is either too short (flaky) or too long (slow). The timeout only bounds a test that is broken.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Most a condition in these tests may take: a load plus warm-up plus a poll on a busy machine. */
export const DEFAULT_WAIT_MS = 30_000;
/** Often enough to catch short states (a version LOADING), rare enough not to load the server. */
export const DEFAULT_POLL_MS = 20;

export interface WaitOptions {
  /** @default 30 s */
  readonly timeoutMs?: number;
  /** @default 20 ms */
  readonly intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined or false, and resolves with that.
 * A probe that throws counts as "not yet"; its last error is in the timeout message.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = DEFAULT_WAIT_MS, intervalMs = DEFAULT_POLL_MS }: WaitOptions = {},
): Promise<T> {
  const started = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (performance.now() - started > timeoutMs) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last probe: ${detail})`,
      );
    }
    await sleep(intervalMs);
  }
}
