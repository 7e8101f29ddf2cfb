/**
 * Exponential backoff with jitter: attempt n waits a random time in [d/2, d], d = min(max,
 * initial · 2^(n-1)). The random half keeps partitions (and pipelines) that failed together from
 * retrying together against a sidecar or Redis that is just coming back.
 */
export interface BackoffSettings {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** The delay before retry `attempt` (1 for the first retry). */
export function backoffDelay(
  attempt: number,
  { initialBackoffMs, maxBackoffMs }: BackoffSettings,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(maxBackoffMs, initialBackoffMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
