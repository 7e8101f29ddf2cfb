/**
 * Latencies counted in log-spaced buckets, so a window keeps a fixed array however many calls it
 * sees, and a percentile is read from it within a known relative error.
 */

/** Latency buckets: 0.1 ms × 1.1^i up to about 160 s; a percentile is read within ±4.9 %. */
const LATENCY_BASE_MS = 0.1;
const LATENCY_GROWTH = 1.1;
export const LATENCY_BUCKETS = 151;
const LOG_GROWTH = Math.log(LATENCY_GROWTH);

/** The latency bucket of `ms`: bucket i holds (0.1·1.1^(i−1), 0.1·1.1^i] ms. */
export function latencyBucket(ms: number): number {
  if (!(ms > LATENCY_BASE_MS)) return 0;
  const i = Math.ceil(Math.log(ms / LATENCY_BASE_MS) / LOG_GROWTH - 1e-9);
  return Math.min(i, LATENCY_BUCKETS - 1);
}

/**
 * The `q`-quantile (0 < q ≤ 1) of latencies counted in buckets from `offset`, as the bucket's
 * geometric middle: within √1.1 − 1 ≈ 4.9 % of a value in that bucket.
 */
export function latencyQuantile(counts: ArrayLike<number>, offset: number, q: number): number {
  let total = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) total += counts[offset + i]!;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    cumulative += counts[offset + i]!;
    if (cumulative >= rank && counts[offset + i]! > 0) {
      return i === 0 ? LATENCY_BASE_MS : LATENCY_BASE_MS * LATENCY_GROWTH ** (i - 0.5);
    }
  }
  return LATENCY_BASE_MS * LATENCY_GROWTH ** (LATENCY_BUCKETS - 1.5);
}
