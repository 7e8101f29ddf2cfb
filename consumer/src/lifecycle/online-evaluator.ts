/**
 * Online evaluation of a binary classifier as labels arrive: per model version and rollout arm,
 * over a sliding window (by labelled predictions or by time, the time a label was joined), the
 * precision and recall at the threshold, ROC AUC, log loss, the Brier score and calibration.
 *
 * Everything is counts in fixed bins, so a labelled prediction costs a few additions and the
 * figures are computed when read:
 *
 * - **ROC AUC** from per-class score histograms over 400 bins even in logit (−10 … 10, steps of
 *   0.05: scores crowd near 0 and 1, where equal-width bins would lump them). Pairs of a positive
 *   and a negative in different bins are ordered exactly; pairs in the same bin count as ties
 *   (½). So the exact AUC lies within ½ · Σ_b pos_b · neg_b / (P · N) of the figure — returned as
 *   `rocAucBound`, usually below 0.001.
 * - **Log loss** with scores clipped to [1e-15, 1 − 1e-15], as scikit-learn does.
 * - **Calibration** in equal-width reliability bins (10 by default): per bin the mean score and
 *   the observed positive rate; the expected calibration error is their gap weighted by count.
 */
import {
  SlicedWindow,
  describeWindow,
  type WindowExtent,
  type WindowSpec,
} from "./sliced-window.js";

/** scikit-learn's clipping: a confident wrong answer costs ln(1e15) ≈ 34.5, not infinity. */
const LOG_LOSS_EPSILON = 1e-15;
/** AUC bins: logit from −10 to 10 in steps of 0.05, plus a bin below and one above. */
const AUC_LOGIT_RANGE = 10;
export const DEFAULT_AUC_BINS = 400;
export const DEFAULT_CALIBRATION_BINS = 10;
/** The label output of the example models: argmax of two probabilities. */
export const DEFAULT_THRESHOLD = 0.5;
/** A day of labelled predictions by count is too slow to move; the last 10,000 move quickly. */
export const DEFAULT_EVALUATION_WINDOW: WindowSpec = { kind: "events", events: 10_000, slices: 10 };

/** One prediction whose label arrived. */
export interface LabelledPrediction {
  /** P(class 1). */
  readonly score: number;
  /** 0 or 1. */
  readonly label: number;
  readonly version: string;
  /** The rollout arm that served it ("" without a rollout). */
  readonly arm: string;
}

export interface OnlineEvaluatorOptions {
  /** @default the last 10,000 labelled predictions per version and arm, in 10 slices */
  readonly window?: WindowSpec;
  /** The threshold of precision and recall: per version, else `threshold`. @default 0.5 */
  readonly threshold?: number;
  readonly thresholds?: Readonly<Record<string, number>>;
  /** @default 400 */
  readonly aucBins?: number;
  /** @default 10 */
  readonly calibrationBins?: number;
}

export interface CalibrationBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** NaN when the bin is empty. */
  readonly meanScore: number;
  readonly observedRate: number;
}

export interface EvaluationFigures {
  readonly version: string;
  readonly arm: string;
  readonly window: WindowExtent & { readonly describe: string };
  readonly labels: number;
  readonly positives: number;
  readonly threshold: number;
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly trueNegatives: number;
  /** NaN when undefined (no predicted positives; no actual positives). */
  readonly precision: number;
  readonly recall: number;
  /** NaN without both classes. */
  readonly rocAuc: number;
  /** The exact AUC is within this of `rocAuc`. */
  readonly rocAucBound: number;
  readonly logLoss: number;
  readonly brier: number;
  readonly calibration: readonly CalibrationBin[];
  /** Expected calibration error: Σ (count/labels) · |meanScore − observedRate|. */
  readonly ece: number;
}

// Layout of one (version, arm) window: confusion, sums, then the histograms.
const TP = 0;
const FP = 1;
const FN = 2;
const TN = 3;
const LOG_LOSS = 4;
const BRIER = 5;
const HEAD = 6;

interface Series {
  readonly version: string;
  readonly arm: string;
  readonly threshold: number;
  readonly window: SlicedWindow;
}

export class OnlineEvaluator {
  readonly #window: WindowSpec;
  readonly #threshold: number;
  readonly #thresholds: Readonly<Record<string, number>>;
  readonly #aucBins: number;
  readonly #calibrationBins: number;
  readonly #series = new Map<string, Series>();
  readonly #step: number;

  constructor(options: OnlineEvaluatorOptions = {}) {
    this.#window = options.window ?? DEFAULT_EVALUATION_WINDOW;
    this.#threshold = options.threshold ?? DEFAULT_THRESHOLD;
    this.#thresholds = options.thresholds ?? {};
    this.#aucBins = options.aucBins ?? DEFAULT_AUC_BINS;
    this.#calibrationBins = options.calibrationBins ?? DEFAULT_CALIBRATION_BINS;
    for (const [what, value] of [
      ["aucBins", this.#aucBins],
      ["calibrationBins", this.#calibrationBins],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`evaluation ${what}: expected a positive integer, got ${value}`);
      }
    }
    this.#step = (2 * AUC_LOGIT_RANGE) / this.#aucBins;
  }

  /** The AUC bin of a score: logit-even inside (−10, 10], one bin below, one above. */
  aucBin(score: number): number {
    if (!(score > 0)) return 0;
    if (!(score < 1)) return this.#aucBins + 1;
    const logit = Math.log(score / (1 - score));
    if (logit <= -AUC_LOGIT_RANGE) return 0;
    if (logit > AUC_LOGIT_RANGE) return this.#aucBins + 1;
    return Math.min(Math.ceil((logit + AUC_LOGIT_RANGE) / this.#step), this.#aucBins);
  }

  /**
   * Counts labelled predictions at clock `now` (when their labels were joined). A label other
   * than 0 or 1, or a score that is not a number, is skipped: returns how many were counted.
   */
  observe(pairs: readonly LabelledPrediction[], now: number): number {
    let counted = 0;
    const aucOffset = HEAD;
    const negOffset = aucOffset + this.#aucBins + 2;
    const calOffset = negOffset + this.#aucBins + 2;
    for (const pair of pairs) {
      const { score, label } = pair;
      if ((label !== 0 && label !== 1) || !(score >= 0 && score <= 1)) continue;
      const series = this.#seriesOf(pair.version, pair.arm);
      const base = series.window.beginEvent(now);
      const v = series.window.values;
      const predicted = score >= series.threshold ? 1 : 0;
      v[base + (label === 1 ? (predicted === 1 ? TP : FN) : predicted === 1 ? FP : TN)]!++;
      const p = Math.min(Math.max(score, LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
      v[base + LOG_LOSS]! -= label === 1 ? Math.log(p) : Math.log(1 - p);
      v[base + BRIER]! += (score - label) ** 2;
      v[base + (label === 1 ? aucOffset : negOffset) + this.aucBin(score)]!++;
      const cal = Math.min(Math.floor(score * this.#calibrationBins), this.#calibrationBins - 1);
      const c = base + calOffset + 3 * cal;
      v[c]!++;
      v[c + 1]! += score;
      v[c + 2]! += label;
      counted++;
    }
    return counted;
  }

  /** The figures of every (version, arm) seen, over their windows at `now`. */
  snapshot(now: number): EvaluationFigures[] {
    return [...this.#series.values()].map((series) => this.#figures(series, now));
  }

  /** The figures of one version and arm; undefined when it has no labelled prediction yet. */
  figures(version: string, arm: string, now: number): EvaluationFigures | undefined {
    const series = this.#series.get(`${version}\u0000${arm}`);
    return series === undefined ? undefined : this.#figures(series, now);
  }

  #seriesOf(version: string, arm: string): Series {
    const key = `${version}\u0000${arm}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      const width = HEAD + 2 * (this.#aucBins + 2) + 3 * this.#calibrationBins;
      series = {
        version,
        arm,
        threshold: this.#thresholds[version] ?? this.#threshold,
        window: new SlicedWindow(width, this.#window),
      };
      this.#series.set(key, series);
    }
    return series;
  }

  #figures(series: Series, now: number): EvaluationFigures {
    const t = series.window.totals(now);
    const extent = series.window.extent(now);
    const tp = t[TP]!;
    const fp = t[FP]!;
    const fn = t[FN]!;
    const tn = t[TN]!;
    const labels = tp + fp + fn + tn;
    const positives = tp + fn;
    const negatives = fp + tn;
    const bins = this.#aucBins + 2;
    const pos = HEAD;
    const neg = HEAD + bins;
    // AUC = P(score⁺ > score⁻) + ½ P(tie), pairs in one bin counted as ties.
    let below = 0;
    let ordered = 0;
    let tied = 0;
    for (let b = 0; b < bins; b++) {
      const p = t[pos + b]!;
      const n = t[neg + b]!;
      ordered += p * below;
      tied += p * n;
      below += n;
    }
    const pairs = positives * negatives;
    const calibration: CalibrationBin[] = [];
    let ece = 0;
    const cal = neg + bins;
    for (let i = 0; i < this.#calibrationBins; i++) {
      const count = t[cal + 3 * i]!;
      const meanScore = count > 0 ? t[cal + 3 * i + 1]! / count : Number.NaN;
      const observedRate = count > 0 ? t[cal + 3 * i + 2]! / count : Number.NaN;
      if (count > 0) ece += (count / labels) * Math.abs(meanScore - observedRate);
      calibration.push({
        lower: i / this.#calibrationBins,
        upper: (i + 1) / this.#calibrationBins,
        count,
        meanScore,
        observedRate,
      });
    }
    return {
      version: series.version,
      arm: series.arm,
      window: { ...extent, describe: describeWindow(series.window.spec) },
      labels,
      positives,
      threshold: series.threshold,
      truePositives: tp,
      falsePositives: fp,
      falseNegatives: fn,
      trueNegatives: tn,
      precision: tp + fp > 0 ? tp / (tp + fp) : Number.NaN,
      recall: positives > 0 ? tp / positives : Number.NaN,
      rocAuc: pairs > 0 ? (ordered + tied / 2) / pairs : Number.NaN,
      rocAucBound: pairs > 0 ? tied / 2 / pairs : Number.NaN,
      logLoss: labels > 0 ? t[LOG_LOSS]! / labels : Number.NaN,
      brier: labels > 0 ? t[BRIER]! / labels : Number.NaN,
      calibration,
      ece: labels > 0 ? ece : Number.NaN,
    };
  }
}
