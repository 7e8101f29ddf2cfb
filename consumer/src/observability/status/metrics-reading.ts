/**
 * One reading of a metrics registry, indexed for the status page: the series of each metric name
 * (histograms by their `_bucket`, `_sum` and `_count` names), each with its labels as strings.
 */
import type { CumulativeBucket } from "./histogram-quantile.js";

/** What a reading needs of a registry (prom-client's `Registry` has it). */
export interface MetricsRegistry {
  getMetricsAsJSON(): Promise<
    readonly {
      readonly name: string;
      readonly values: readonly {
        readonly value: number;
        readonly labels: Readonly<Record<string, string | number | undefined>>;
        readonly metricName?: string;
      }[];
    }[]
  >;
}

export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export type LabelFilter = Readonly<Record<string, string>>;

function matches(labels: Readonly<Record<string, string>>, filter: LabelFilter): boolean {
  for (const name in filter) if (labels[name] !== filter[name]) return false;
  return true;
}

export class MetricsReading {
  readonly #series = new Map<string, Series[]>();

  constructor(metrics: Awaited<ReturnType<MetricsRegistry["getMetricsAsJSON"]>>) {
    for (const metric of metrics) {
      for (const { value, labels, metricName } of metric.values) {
        const name = metricName ?? metric.name;
        const own: Record<string, string> = {};
        for (const label in labels) {
          const text = labels[label];
          if (text !== undefined) own[label] = String(text);
        }
        let list = this.#series.get(name);
        if (list === undefined) this.#series.set(name, (list = []));
        list.push({ labels: own, value });
      }
    }
  }

  static async of(registry: MetricsRegistry): Promise<MetricsReading> {
    return new MetricsReading(await registry.getMetricsAsJSON());
  }

  /** The series of `name` whose labels include `filter`. */
  series(name: string, filter: LabelFilter = {}): Series[] {
    return (this.#series.get(name) ?? []).filter((s) => matches(s.labels, filter));
  }

  /** Whether any series of `name` matches `filter`. */
  has(name: string, filter: LabelFilter = {}): boolean {
    return this.series(name, filter).length > 0;
  }

  /** The sum of the matching series of `name`; undefined when none matches. */
  sum(name: string, filter: LabelFilter = {}): number | undefined {
    const list = this.series(name, filter);
    if (list.length === 0) return undefined;
    return list.reduce((total, s) => total + s.value, 0);
  }

  /** Sums of the matching series of `name` grouped by the values of `label`. */
  sumBy(name: string, label: string, filter: LabelFilter = {}): Map<string, number> {
    const sums = new Map<string, number>();
    for (const s of this.series(name, filter)) {
      const key = s.labels[label] ?? "";
      sums.set(key, (sums.get(key) ?? 0) + s.value);
    }
    return sums;
  }

  /** The cumulative buckets of histogram `name`, its matching series added up, by ascending `le`. */
  buckets(name: string, filter: LabelFilter = {}): CumulativeBucket[] {
    const counts = new Map<number, number>();
    for (const s of this.series(`${name}_bucket`, filter)) {
      const text = s.labels["le"];
      const le = text === "+Inf" ? Infinity : Number(text);
      counts.set(le, (counts.get(le) ?? 0) + s.value);
    }
    return [...counts].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  }

  /** Every value of `label` among the series of `names`. */
  labelValues(label: string, names: Iterable<string>): Set<string> {
    const values = new Set<string>();
    for (const name of names) {
      for (const s of this.#series.get(name) ?? []) {
        const value = s.labels[label];
        if (value !== undefined) values.add(value);
      }
    }
    return values;
  }
}
