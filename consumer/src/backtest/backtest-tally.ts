/**
 * What a backtest counts as it replays, and the report it makes of it: per version the scores it
 * gave (their distribution), its evaluation against the labels (the `OnlineEvaluator`, over every
 * labelled event of the range), and between the candidate and the version it is compared with
 * the agreement of their decisions at the threshold, the mean |score difference| and the drift of
 * the candidate's scores from the other's (PSI and KS, from distribution-distance.ts on the other
 * version's quantile bins, as the drift monitor does with a reference). Pure: no I/O, no clock.
 */
import type { ConsumerErrorCode } from "../errors.js";
import {
  binIndex,
  ksFromBins,
  populationStabilityIndex,
} from "../lifecycle/distribution-distance.js";
import { OnlineEvaluator, type EvaluationFigures } from "../lifecycle/online-evaluator.js";
import {
  DEFAULT_SCORE_BINS,
  DEFAULT_SCORE_CDF_BINS,
  binnedFromSamples,
} from "../lifecycle/reference-distribution.js";

export type VersionRole = "candidate" | "against";

/** A summary of scores; NaN (null in JSON) when there are none. */
export interface ScoreSummary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** Share of scores at or above the threshold: the events this version flags. */
  readonly flagged: number;
}

/** A version's figures on the labelled events it scored: the online evaluator's, in short. */
export type VersionEvaluation = Pick<
  EvaluationFigures,
  "labels" | "positives" | "precision" | "recall" | "rocAuc" | "rocAucBound" | "logLoss" | "brier"
>;

export interface VersionReport {
  readonly role: VersionRole;
  /** As asked for: a number or a label (`canary`). */
  readonly requested: string;
  /** The versions that answered (a label resolves to a number). */
  readonly answered: string[];
  /** Events this version scored. */
  readonly scored: number;
  /** Featured events this version could not score (the sidecar rejected their rows). */
  readonly failed: number;
  readonly scores: ScoreSummary;
  /** Without labels: undefined. */
  readonly evaluation: VersionEvaluation | undefined;
}

export interface VersionComparison {
  /** Events both versions scored. */
  readonly compared: number;
  /** Share of them with the same decision (score ≥ threshold) from both. */
  readonly agreement: number;
  readonly meanAbsDifference: number;
  /** Of the candidate's scores against the other version's, in 10 quantile bins of the other's. */
  readonly psi: number;
  /** Kolmogorov–Smirnov, in 100 quantile bins; the exact value is within `ksBound` above. */
  readonly ks: number;
  readonly ksBound: number;
}

export interface DeadLetterCount {
  readonly count: number;
  /** The first one's reason, as the dead-letter header would say it. */
  readonly example: string;
}

export interface TallyReport {
  /** Records read from the input topic. */
  readonly read: number;
  /** Events that would have become predictions (the candidate scored them). */
  readonly predictions: number;
  /** Events that would have gone to the dead-letter topic, by code. */
  readonly deadLetters: number;
  readonly deadLettersByCode: Readonly<Partial<Record<ConsumerErrorCode, DeadLetterCount>>>;
  readonly threshold: number;
  readonly versions: VersionReport[];
  readonly comparison: VersionComparison | undefined;
  /** Scored events with a label (none without a label topic). */
  readonly labelled: number;
}

/** A growable list of numbers. */
class Samples {
  #values = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }

  /** A copy of the values, sorted. */
  sorted(): Float64Array {
    return this.#values.slice(0, this.length).sort();
  }

  values(): Float64Array {
    return this.#values.subarray(0, this.length);
  }
}

interface VersionTally {
  readonly role: VersionRole;
  readonly requested: string;
  readonly answered: Set<string>;
  readonly scores: Samples;
  failed: number;
}

/** One event's outcome for one version: its score, or undefined when it could not be scored. */
export type VersionScore = { readonly score: number; readonly version: string } | undefined;

/** The figures of a backtest, counted event by event. */
export class BacktestTally {
  readonly threshold: number;
  readonly #versions: VersionTally[];
  readonly #evaluator: OnlineEvaluator;
  /** Pairs scored by both versions, in order: candidate, against. */
  readonly #pairs = { candidate: new Samples(), against: new Samples() };
  readonly #deadLetters: Partial<Record<ConsumerErrorCode, { count: number; example: string }>> =
    {};
  #read = 0;
  #predictions = 0;
  #labelled = 0;

  /** `versions`: the candidate's requested version, then the one it is compared with, if any. */
  constructor(versions: readonly [string] | readonly [string, string], threshold: number) {
    this.threshold = threshold;
    this.#versions = versions.map((requested, i) => ({
      role: i === 0 ? "candidate" : "against",
      requested,
      answered: new Set<string>(),
      scores: new Samples(),
      failed: 0,
    }));
    // Every labelled event of the range counts: one slice as long as any backtest.
    this.#evaluator = new OnlineEvaluator({
      window: { kind: "events", events: Number.MAX_SAFE_INTEGER, slices: 1 },
      threshold,
    });
  }

  /** Records read from the topic (events, and records that are not). */
  read(records: number): void {
    this.#read += records;
  }

  /** An event the pipeline would dead-letter, with its reason. */
  deadLetter(code: ConsumerErrorCode, message: string): void {
    const seen = this.#deadLetters[code];
    if (seen === undefined) this.#deadLetters[code] = { count: 1, example: message };
    else seen.count++;
  }

  /**
   * An event whose features were computed: `scores` in version order (candidate first), and its
   * label when one came. The candidate's score makes it a prediction; without one the caller
   * reports its dead letter.
   */
  scored(scores: readonly VersionScore[], label: number | undefined): void {
    const labelled: { score: number; label: number; version: string; arm: string }[] = [];
    this.#versions.forEach((version, i) => {
      const outcome = scores[i];
      if (outcome === undefined) {
        version.failed++;
        return;
      }
      version.answered.add(outcome.version);
      version.scores.push(outcome.score);
      if (label !== undefined) {
        labelled.push({ score: outcome.score, label, version: version.role, arm: "" });
      }
    });
    if (scores[0] !== undefined) {
      this.#predictions++;
      if (label !== undefined) this.#labelled++;
    }
    const [candidate, against] = scores;
    if (this.#versions.length > 1 && candidate !== undefined && against !== undefined) {
      this.#pairs.candidate.push(candidate.score);
      this.#pairs.against.push(against.score);
    }
    // The clock does not matter: the window holds everything.
    if (labelled.length > 0) this.#evaluator.observe(labelled, 0);
  }

  /** The counts alone, without sorting anything: for progress after every micro-batch. */
  counts(): { read: number; predictions: number; deadLetters: number } {
    let deadLetters = 0;
    for (const d of Object.values(this.#deadLetters)) deadLetters += d.count;
    return { read: this.#read, predictions: this.#predictions, deadLetters };
  }

  report(): TallyReport {
    const deadLetters = Object.values(this.#deadLetters).reduce((n, d) => n + d.count, 0);
    return {
      read: this.#read,
      predictions: this.#predictions,
      deadLetters,
      deadLettersByCode: structuredClone(this.#deadLetters),
      threshold: this.threshold,
      versions: this.#versions.map((version) => this.#versionReport(version)),
      comparison: this.#versions.length > 1 ? this.#comparison() : undefined,
      labelled: this.#labelled,
    };
  }

  #versionReport(version: VersionTally): VersionReport {
    const figures = this.#evaluator.figures(version.role, "", 0);
    return {
      role: version.role,
      requested: version.requested,
      answered: [...version.answered].sort(),
      scored: version.scores.length,
      failed: version.failed,
      scores: summarize(version.scores.sorted(), this.threshold),
      evaluation:
        figures === undefined
          ? undefined
          : {
              labels: figures.labels,
              positives: figures.positives,
              precision: figures.precision,
              recall: figures.recall,
              rocAuc: figures.rocAuc,
              rocAucBound: figures.rocAucBound,
              logLoss: figures.logLoss,
              brier: figures.brier,
            },
    };
  }

  #comparison(): VersionComparison {
    const candidate = this.#pairs.candidate.values();
    const against = this.#pairs.against.values();
    const n = candidate.length;
    if (n === 0) {
      return {
        compared: 0,
        agreement: Number.NaN,
        meanAbsDifference: Number.NaN,
        psi: Number.NaN,
        ks: Number.NaN,
        ksBound: Number.NaN,
      };
    }
    let same = 0;
    let difference = 0;
    for (let i = 0; i < n; i++) {
      const a = candidate[i]!;
      const b = against[i]!;
      if (a >= this.threshold === b >= this.threshold) same++;
      difference += Math.abs(a - b);
    }
    const distance = (bins: number) => {
      const reference = binnedFromSamples(against.slice(), bins);
      const counts = new Float64Array(reference.proportions.length);
      for (let i = 0; i < n; i++) counts[binIndex(reference.edges, candidate[i]!)]!++;
      return { reference, counts };
    };
    const coarse = distance(DEFAULT_SCORE_BINS);
    const fine = distance(DEFAULT_SCORE_CDF_BINS);
    const ks = ksFromBins(fine.reference.proportions, fine.counts);
    return {
      compared: n,
      agreement: same / n,
      meanAbsDifference: difference / n,
      psi: populationStabilityIndex(coarse.reference.proportions, coarse.counts),
      ks: ks.value,
      ksBound: ks.bound,
    };
  }
}

/** The q-quantile of sorted values: the smallest value whose cumulative share reaches q. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(Math.max(Math.ceil(q * sorted.length) - 1, 0), sorted.length - 1)]!;
}

export function summarize(sorted: Float64Array, threshold: number): ScoreSummary {
  const n = sorted.length;
  let sum = 0;
  let flagged = 0;
  for (const score of sorted) {
    sum += score;
    if (score >= threshold) flagged++;
  }
  return {
    count: n,
    mean: n === 0 ? Number.NaN : sum / n,
    min: n === 0 ? Number.NaN : sorted[0]!,
    p10: quantile(sorted, 0.1),
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: n === 0 ? Number.NaN : sorted[n - 1]!,
    flagged: n === 0 ? Number.NaN : flagged / n,
  };
}
