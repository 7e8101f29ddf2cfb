/**
 * Latency samples of one measured window and their percentiles.
 *
 * Every sample is kept and sorted once at the end: a window holds at most a few hundred thousand
 * requests, so an exact percentile costs a few milliseconds and needs no bucket-resolution caveat.
 */

/** Initial room for samples; the store doubles when full. */
const INITIAL_CAPACITY = 16_384;

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export class LatencyRecorder {
  private samples = new Float64Array(INITIAL_CAPACITY);
  private size = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    if (this.size === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.size).sort();
    let total = 0;
    for (const sample of sorted) total += sample;
    return {
      count: this.size,
      meanMs: this.size === 0 ? NaN : total / this.size,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: this.size === 0 ? NaN : sorted[this.size - 1]!,
    };
  }
}

/**
 * The `p`-th percentile of ascending `sorted` samples by the nearest-rank method: the smallest
 * sample with at least p% of the samples at or below it (NaN when there are none).
 */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1]!;
}
