/**
 * Exponential backoff with jitter, and a sleep. Attempt n's ceiling is
 * d = min(max, initial · 2^(n-1)); the wait is drawn below it:
 *   - "equal" jitter: [d/2, d]. The pipeline's retries use it: a partition that failed still waits
 *     at least half the ceiling, and partitions that failed together do not retry together.
 *   - "full" jitter: [0, d). The inference client's retries use it (the AWS architecture blog's
 *     "full jitter"): many clients failed by one sidecar restart spread over the whole window.
 */
import { setTimeout as delay } from "node:timers/promises";

export interface BackoffSettings {
  /** Ceiling of the first wait. */
  readonly initialBackoffMs: number;
  /** Ceiling of any wait, however many attempts came before. */
  readonly maxBackoffMs: number;
  /** @default "equal" */
  readonly jitter?: "equal" | "full";
}

/** The wait before retry `attempt` (1 for the first retry). */
export function backoffDelay(
  attempt: number,
  { initialBackoffMs, maxBackoffMs, jitter = "equal" }: BackoffSettings,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(maxBackoffMs, initialBackoffMs * 2 ** exponent);
  if (jitter === "full") return random() * ceiling;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves after `ms`; rejects with an AbortError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal === undefined ? undefined : { signal });
}
