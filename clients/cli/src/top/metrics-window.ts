/**
 * What changed between two scrapes of Prometheus endpoints: counter rates and histogram quantiles
 * over the window, computed the way PromQL's `rate()` and `histogram_quantile()` do, so `sluice top`
 * and a Grafana panel over the same window agree.
 */
import { hasLabels, type MetricSample } from "@sluice/kit";

/** One endpoint's samples at one moment, or why there are none. */
export interface Scrape {
  /** The URL scraped. */
  readonly target: string;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly samples: readonly MetricSample[];
  /** Set when the endpoint did not answer; `samples` is then empty. */
  readonly error?: string;
}

type Labels = Readonly<Record<string, string>>;

/** Two scrapes of the same endpoints: `previous` is undefined on the first refresh. */
export class MetricsWindow {
  readonly #current: readonly Scrape[];
  readonly #previous: ReadonlyMap<string, Scrape>;

  constructor(current: readonly Scrape[], previous: readonly Scrape[] = []) {
    this.#current = current;
    this.#previous = new Map(
      previous.filter((scrape) => scrape.error === undefined).map((s) => [s.target, s]),
    );
  }

  /** Seconds between the scrapes (the longest over the endpoints); 0 on the first refresh. */
  get seconds(): number {
    let seconds = 0;
    for (const scrape of this.#current) {
      const before = this.#previous.get(scrape.target);
      if (before !== undefined) seconds = Math.max(seconds, (scrape.at - before.at) / 1000);
    }
    return seconds;
  }

  /** Every current sample of `name` matching `labels`, across endpoints. */
  samples(name: string, labels: Labels = {}): MetricSample[] {
    const found: MetricSample[] = [];
    for (const scrape of this.#current) {
      for (const sample of scrape.samples) {
        if (sample.name === name && hasLabels(sample, labels)) found.push(sample);
      }
    }
    return found;
  }

  /** The current sum of `name` matching `labels`, across endpoints. */
  total(name: string, labels: Labels = {}): number {
    return this.samples(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }

  /**
   * How much counter `name` (matching `labels`) grew over the window, across endpoints. An endpoint
   * seen for the first time, or whose counter went down (a restart), counts from zero, as
   * `increase()` does.
   */
  increase(name: string, labels: Labels = {}): number {
    let increase = 0;
    for (const scrape of this.#current) {
      const before = this.#previous.get(scrape.target);
      const now = sum(scrape.samples, name, labels);
      const then = before === undefined ? 0 : sum(before.samples, name, labels);
      increase += now >= then ? now - then : now;
    }
    return increase;
  }

  /** Per second over the window; undefined on the first refresh. */
  rate(name: string, labels: Labels = {}): number | undefined {
    const seconds = this.seconds;
    return seconds > 0 ? this.increase(name, labels) / seconds : undefined;
  }

  /**
   * The `q` quantile of histogram `name` (matching `labels`) over the window, from the increase of
   * its buckets; over all time on the first refresh. Undefined when nothing was observed.
   */
  quantile(q: number, name: string, labels: Labels = {}): number | undefined {
    const bounds = new Set<string>();
    for (const sample of this.samples(`${name}_bucket`, labels)) {
      const le = sample.labels["le"];
      if (le !== undefined) bounds.add(le);
    }
    const buckets = [...bounds].map((le) => ({
      le: le === "+Inf" ? Infinity : Number(le),
      count:
        this.seconds > 0
          ? this.increase(`${name}_bucket`, { ...labels, le })
          : this.total(`${name}_bucket`, { ...labels, le }),
    }));
    return histogramQuantile(q, buckets);
  }

  /** The mean of histogram `name` over the window (sum / count); over all time on the first refresh. */
  mean(name: string, labels: Labels = {}): number | undefined {
    const windowed = this.seconds > 0;
    const count = windowed
      ? this.increase(`${name}_count`, labels)
      : this.total(`${name}_count`, labels);
    if (count === 0) return undefined;
    const total = windowed
      ? this.increase(`${name}_sum`, labels)
      : this.total(`${name}_sum`, labels);
    return total / count;
  }

  /** The distinct values of `label` among the current samples of `name`. */
  labelValues(name: string, label: string, labels: Labels = {}): string[] {
    const values = new Set<string>();
    for (const sample of this.samples(name, labels)) {
      const value = sample.labels[label];
      if (value !== undefined) values.add(value);
    }
    return [...values].sort();
  }
}

function sum(samples: readonly MetricSample[], name: string, labels: Labels): number {
  let total = 0;
  for (const sample of samples) {
    if (sample.name === name && hasLabels(sample, labels)) total += sample.value;
  }
  return total;
}

/**
 * PromQL's `histogram_quantile`: linear interpolation inside the bucket the rank falls in; the
 * lower bound of the first bucket is 0, and a rank in the `+Inf` bucket answers the largest finite
 * bound. `buckets` are cumulative counts by upper bound, in any order.
 */
export function histogramQuantile(
  q: number,
  buckets: readonly { readonly le: number; readonly count: number }[],
): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted[sorted.length - 1]?.count ?? 0;
  if (total <= 0 || sorted.length < 2) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lower;
      const inBucket = bucket.count - below;
      return inBucket <= 0 ? bucket.le : lower + ((bucket.le - lower) * (rank - below)) / inBucket;
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}
