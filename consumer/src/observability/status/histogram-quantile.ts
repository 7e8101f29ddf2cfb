/**
 * A quantile from a Prometheus histogram's cumulative buckets, as PromQL's `histogram_quantile`
 * estimates it: linear interpolation inside the bucket the rank falls in, the first bucket starting
 * at 0, and a rank in the `+Inf` bucket answered with the highest finite bound (the histogram
 * cannot say more).
 */

/** One bucket: its upper bound (`Infinity` for `+Inf`) and the observations at or below it. */
export interface CumulativeBucket {
  readonly le: number;
  readonly count: number;
}

/**
 * The `q` quantile (0–1) of `buckets` (cumulative, by ascending `le`, `+Inf` last); undefined when
 * they hold no observation.
 */
export function histogramQuantile(
  q: number,
  buckets: readonly CumulativeBucket[],
): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: expected 0 to 1, got ${q}`);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of buckets) {
    if (count >= rank && count > below) {
      if (le === Infinity) return lower;
      // A first bucket with a negative bound has no lower edge to interpolate from.
      if (le <= 0 && below === 0) return le;
      return lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** `later − earlier`, bucket by bucket: the observations made between two readings. */
export function bucketDifference(
  later: readonly CumulativeBucket[],
  earlier: readonly CumulativeBucket[] | undefined,
): CumulativeBucket[] {
  if (earlier === undefined || earlier.length !== later.length) return [...later];
  return later.map(({ le, count }, i) => ({ le, count: Math.max(0, count - earlier[i]!.count) }));
}
