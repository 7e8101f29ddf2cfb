/**
 * A rollout's counts (docs/metrics.md, "Model lifecycle"): predictions by arm, the shadow's calls
 * and comparisons, automatic rollbacks, and the guard rails' latest figures. Plain numbers the
 * pipeline adds to; `ConsumerMetrics` renders its series from them at scrape time, as it does the
 * pipeline's own counters. A pipeline without a `rollout:` section has none of this.
 */
import type { HistogramSeries } from "./event-histogram.js";

/** The outcome of one shadow ModelInfer call (never retried). */
export type ShadowOutcome = "success" | "failure" | "deadline_exceeded";

/** What the guard rails' last evaluation said about one arm. */
export interface GuardRailFigures {
  /** Failed rows / rows over the window. */
  readonly errorRatio: number;
  /** The configured latency percentile, seconds; NaN before any call was timed. */
  readonly latencySeconds: number;
  /** PSI and KS of its scores against the primary's; NaN for the primary itself. */
  readonly scorePsi: number;
  readonly scoreKs: number;
}

/** One arm's share now, for the weight gauge. */
export interface ArmWeight {
  /** A value listed under `rollout.segments.weights`, or `_default`. */
  readonly segment: string;
  readonly arm: string;
  readonly version: string;
  /** 0–1; the arms of a segment sum to 1. */
  readonly share: number;
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

export class RolloutMetrics {
  /** arm → version that answered → predictions published (counted after the commit). */
  readonly predictions = new Map<string, Map<string, number>>();
  /** `<version>\n<outcome>` → shadow calls. */
  readonly shadowRequests = new Map<string, number>();
  /** `<version>\n<agree|disagree>` → shadow predictions compared with the primary's. */
  readonly shadowPredictions = new Map<string, number>();
  /** `<arm>\n<check>` → automatic rollbacks, one per breached check. */
  readonly rollbacks = new Map<string, number>();
  /** By arm: the guard rails' latest evaluation (the judged arm and the primary). */
  readonly guardRails = new Map<string, GuardRailFigures>();
  /** The weights now (after rollbacks and commands); read at each scrape. */
  weights: () => readonly ArmWeight[];
  readonly #difference: (version: string) => HistogramSeries;
  readonly #differenceSeries = new Map<string, HistogramSeries>();

  /** `difference` binds the score-difference histogram's series of a shadow version. */
  constructor(
    weights: () => readonly ArmWeight[],
    difference: (version: string) => HistogramSeries,
  ) {
    this.weights = weights;
    this.#difference = difference;
  }

  /** A delivered micro-batch's predictions by arm and version. */
  delivered(arms: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
    for (const [arm, versions] of arms) {
      let counts = this.predictions.get(arm);
      if (counts === undefined) this.predictions.set(arm, (counts = new Map<string, number>()));
      for (const [version, count] of versions) add(counts, version, count);
    }
  }

  shadowCall(version: string, outcome: ShadowOutcome): void {
    add(this.shadowRequests, `${version}\n${outcome}`, 1);
  }

  /** One shadowed event: whether its label agreed with the primary's, and shadow − primary score. */
  shadowCompared(version: string, agree: boolean, difference: number): void {
    add(this.shadowPredictions, `${version}\n${agree ? "agree" : "disagree"}`, 1);
    let series = this.#differenceSeries.get(version);
    if (series === undefined)
      this.#differenceSeries.set(version, (series = this.#difference(version)));
    series.observe(difference);
  }

  rolledBack(arm: string, checks: readonly string[]): void {
    for (const check of checks) add(this.rollbacks, `${arm}\n${check}`, 1);
  }
}

/** `a\nb` → [a, b], for the keys above. */
export function splitKey(key: string): [string, string] {
  const at = key.indexOf("\n");
  return [key.slice(0, at), key.slice(at + 1)];
}
