/**
 * Distances between a reference distribution (bin edges and proportions) and live counts in the
 * same bins: the population stability index, and the Kolmogorov–Smirnov and Wasserstein-1
 * distances, each from bins only, so a monitor keeps counts and never values.
 *
 * Bins are right-closed and open-ended: with edges e[0] < … < e[k-1], bin 0 is (−∞, e[0]], bin i
 * is (e[i-1], e[i]], bin k is (e[k-1], +∞) — the layout `reference.json` uses
 * (examples/models/README.md).
 */

/**
 * An empty bin would make PSI infinite (ln 0): its share is taken as 0.0001 instead, the usual
 * floor. An empty live bin whose reference share is 10 % then adds 0.1 · ln(1000) ≈ 0.69, a
 * "major" shift on its own, as it should.
 */
export const DEFAULT_PSI_EPSILON = 1e-4;

/** The bin of `value`: how many edges lie strictly below it. NaN has no bin: -1. */
export function binIndex(edges: ArrayLike<number>, value: number): number {
  if (Number.isNaN(value)) return -1;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The sum of `counts[offset .. offset + k)`. */
function total(counts: ArrayLike<number>, offset: number, k: number): number {
  let n = 0;
  for (let i = 0; i < k; i++) n += counts[offset + i]!;
  return n;
}

/**
 * Walks the bins in order with both CDFs: `visit` gets bin i, its reference share, its live share
 * (`counts[offset + i]` over their sum) and F_live − F_ref before and after it. Visits nothing when
 * nothing was counted, so both distances are 0 then.
 */
function walkCdfs(
  reference: ArrayLike<number>,
  counts: ArrayLike<number>,
  offset: number,
  visit: (i: number, ref: number, live: number, before: number, after: number) => void,
): void {
  const k = reference.length;
  const n = total(counts, offset, k);
  if (n === 0) return;
  let cumRef = 0;
  let cumLive = 0;
  for (let i = 0; i < k; i++) {
    const r = reference[i]!;
    const l = counts[offset + i]! / n;
    const before = cumLive - cumRef;
    cumRef += r;
    cumLive += l;
    visit(i, r, l, before, cumLive - cumRef);
  }
}

/**
 * PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ), aᵢ the live share of bin i (`counts[offset + i]` over their
 * sum), eᵢ the reference share; both floored at `epsilon`. 0 when nothing was counted.
 *
 * Without any drift PSI is not 0 but noise: about (k − 1) · (1/n + 1/N) for k bins, n live and N
 * reference values (it is a chi-square statistic scaled by 1/n), so ten bins over 1,000 events
 * read about 0.009. Monitors wait for a minimum sample for that reason.
 */
export function populationStabilityIndex(
  reference: ArrayLike<number>,
  counts: ArrayLike<number>,
  offset = 0,
  epsilon = DEFAULT_PSI_EPSILON,
): number {
  const k = reference.length;
  const n = total(counts, offset, k);
  if (n === 0) return 0;
  let psi = 0;
  for (let i = 0; i < k; i++) {
    const a = Math.max(counts[offset + i]! / n, epsilon);
    const e = Math.max(reference[i]!, epsilon);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

/** A distance computed from bins and how far from the exact one it can be. */
export interface BinnedDistance {
  readonly value: number;
  /** The exact distance lies in [value, value + bound] (KS) or [value − bound, value + bound]. */
  readonly bound: number;
}

/**
 * The Kolmogorov–Smirnov distance sup |F_live − F_ref| read at the bin edges. Between two edges
 * both CDFs are monotone, so the exact distance is at most the heaviest bin's share (of either
 * distribution) above this: `bound`.
 */
export function ksFromBins(
  reference: ArrayLike<number>,
  counts: ArrayLike<number>,
  offset = 0,
): BinnedDistance {
  let value = 0;
  let bound = 0;
  walkCdfs(reference, counts, offset, (_, r, l, __, after) => {
    value = Math.max(value, Math.abs(after));
    bound = Math.max(bound, r, l);
  });
  return { value, bound };
}

/**
 * The Wasserstein-1 distance ∫ |F_live − F_ref| dx, with values taken as spread evenly inside
 * each bin (both CDFs linear between edges) and the open end bins closed by `domain` (the
 * score's [0, 1]). Inside a bin each true CDF is within its bin's share of the linear one, so the
 * exact distance is within Σ widthᵢ · (refᵢ + liveᵢ) of this: `bound`.
 */
export function wassersteinFromBins(
  edges: ArrayLike<number>,
  reference: ArrayLike<number>,
  counts: ArrayLike<number>,
  domain: readonly [number, number],
  offset = 0,
): BinnedDistance {
  let value = 0;
  let bound = 0;
  let left = domain[0];
  walkCdfs(reference, counts, offset, (i, r, l, d0, d1) => {
    const right =
      i < edges.length ? Math.min(Math.max(edges[i]!, domain[0]), domain[1]) : domain[1];
    const width = Math.max(right - left, 0);
    // ∫ of |a linear function| from d0 to d1 over the bin's width.
    if (d0 * d1 >= 0) value += (width * (Math.abs(d0) + Math.abs(d1))) / 2;
    else value += (width * (d0 * d0 + d1 * d1)) / (2 * (Math.abs(d0) + Math.abs(d1)));
    bound += width * (r + l);
    left = right;
  });
  return { value, bound };
}
