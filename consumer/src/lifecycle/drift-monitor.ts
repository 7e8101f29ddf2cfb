/**
 * Drift of one model version's traffic from its reference: streaming PSI per feature and for the
 * score against the reference bins, and the Kolmogorov–Smirnov and Wasserstein-1 distances of the
 * score, over a sliding window by event count or by time.
 *
 * Cheap per event: a row costs one binary search over ≤ 10 edges per feature and one addition
 * into the current slice's counts; nothing is allocated (the window is a ring of count arrays).
 * The figures are computed once per `evaluate` (per micro-batch or per second), from the counts.
 *
 * Each feature and the score has a state, `stable` (PSI < 0.1), `moderate` (0.1–0.25) or `major`
 * (≥ 0.25), the usual PSI bands, configurable. It is judged only once the window holds
 * `minEvents` events (PSI of a small sample is mostly noise, see `populationStabilityIndex`), and
 * it moves down only when PSI is `hysteresis` below the band's edge, so a PSI hovering at 0.1
 * does not flap between stable and moderate. Every change of state is returned as an event.
 *
 * The reference is a `reference.json` or, with `{ warmupEvents: N }`, the first N events seen:
 * they become the reference (deciles, as the training script bins) and are not judged.
 */
import {
  DEFAULT_PSI_EPSILON,
  binIndex,
  ksFromBins,
  populationStabilityIndex,
  wassersteinFromBins,
  type BinnedDistance,
} from "./distribution-distance.js";
import {
  referenceFromSamples,
  type BinnedDistribution,
  type ReferenceDistributions,
} from "./reference-distribution.js";
import {
  SlicedWindow,
  describeWindow,
  type WindowExtent,
  type WindowSpec,
} from "./sliced-window.js";

export const DRIFT_STATES = ["insufficient", "stable", "moderate", "major"] as const;
/** `insufficient`: never judged yet (too few events in the window, or still warming up). */
export type DriftState = (typeof DRIFT_STATES)[number];

/** The usual PSI bands: below 0.1 no significant shift, 0.1–0.25 moderate, above 0.25 major. */
export const DEFAULT_PSI_BANDS = { moderate: 0.1, major: 0.25 } as const;
/** PSI must fall this far below a band's edge to leave the band: no flapping at the edge. */
export const DEFAULT_DRIFT_HYSTERESIS = 0.02;
/** Ten bins' PSI noise over 1,000 events is about 0.009, a tenth of the first band. */
export const DEFAULT_DRIFT_MIN_EVENTS = 1_000;
/** The last 10,000 events, sliding by 1,000. */
export const DEFAULT_DRIFT_WINDOW: WindowSpec = { kind: "events", events: 10_000, slices: 10 };

export interface DriftMonitorOptions {
  /** The names of the columns of the rows `observe` gets: the model input's layout. */
  readonly columns: readonly string[];
  /** A reference.json's distributions, or the first `warmupEvents` events seen. */
  readonly reference: ReferenceDistributions | { readonly warmupEvents: number };
  /** @default the last 10,000 events in 10 slices */
  readonly window?: WindowSpec;
  /** @default 1000 */
  readonly minEvents?: number;
  /** @default { moderate: 0.1, major: 0.25 } */
  readonly bands?: { readonly moderate: number; readonly major: number };
  /** @default 0.02 */
  readonly hysteresis?: number;
  /** @default 1e-4 */
  readonly epsilon?: number;
}

interface ResolvedDriftOptions {
  readonly window: WindowSpec;
  readonly minEvents: number;
  readonly bands: { readonly moderate: number; readonly major: number };
  readonly hysteresis: number;
  readonly epsilon: number;
}

function resolveOptions(options: DriftMonitorOptions): ResolvedDriftOptions {
  const bands = options.bands ?? DEFAULT_PSI_BANDS;
  if (!(bands.moderate > 0 && bands.major > bands.moderate)) {
    throw new RangeError(
      `drift bands: expected 0 < moderate < major, got moderate ${bands.moderate}, major ${bands.major}`,
    );
  }
  const hysteresis = options.hysteresis ?? DEFAULT_DRIFT_HYSTERESIS;
  if (!(hysteresis >= 0 && hysteresis < bands.moderate)) {
    throw new RangeError(
      `drift hysteresis: expected a number from 0 to below moderate (${bands.moderate}), got ${hysteresis}`,
    );
  }
  return {
    window: options.window ?? DEFAULT_DRIFT_WINDOW,
    minEvents: options.minEvents ?? DEFAULT_DRIFT_MIN_EVENTS,
    bands,
    hysteresis,
    epsilon: options.epsilon ?? DEFAULT_PSI_EPSILON,
  };
}

export interface SubjectDrift {
  /** A feature's name, or `score`. */
  readonly subject: string;
  readonly kind: "feature" | "score";
  readonly psi: number;
  readonly state: DriftState;
  /** Values that were NaN in the window (not in any bin). */
  readonly missing: number;
  /** The score only. */
  readonly ks?: BinnedDistance;
  readonly wasserstein?: BinnedDistance;
}

/** A subject moved from one state to another: the event to log, count and publish. */
export interface DriftChange {
  readonly subject: string;
  readonly kind: "feature" | "score";
  readonly from: DriftState;
  readonly to: DriftState;
  readonly psi: number;
  readonly at: number;
  readonly window: WindowExtent;
}

export interface DriftReport {
  readonly at: number;
  readonly window: WindowExtent & { readonly describe: string };
  /** Whether the window held enough events to judge. */
  readonly judged: boolean;
  /** Warm-up events still to see before there is a reference (0 once there is). */
  readonly warmupRemaining: number;
  readonly features: readonly SubjectDrift[];
  readonly score: SubjectDrift | undefined;
  readonly changes: readonly DriftChange[];
}

/** Where one subject's counts sit in a window slice. */
interface Slot {
  readonly subject: string;
  readonly kind: "feature" | "score";
  /** The input column (features). */
  readonly column: number;
  readonly edges: Float64Array;
  readonly proportions: Float64Array;
  /** Offset of its bins; the missing count follows them. */
  readonly offset: number;
  state: DriftState;
}

/** The state `psi` moves `current` to: up as soon as a band is reached, down only below it by `hysteresis`. */
export function nextDriftState(
  current: DriftState,
  psi: number,
  bands: { readonly moderate: number; readonly major: number },
  hysteresis: number,
): DriftState {
  const band = (value: number): number =>
    value >= bands.major ? 3 : value >= bands.moderate ? 2 : 1;
  const up = band(psi);
  const level = DRIFT_STATES.indexOf(current);
  if (current === "insufficient" || up > level) return DRIFT_STATES[up]!;
  const down = band(psi + hysteresis);
  return down < level ? DRIFT_STATES[down]! : current;
}

export class DriftMonitor {
  readonly columns: readonly string[];
  readonly #options: ResolvedDriftOptions;
  #reference: ReferenceDistributions | undefined;
  #slots: Slot[] = [];
  #score: Slot | undefined;
  #cdf:
    | {
        edges: Float64Array;
        proportions: Float64Array;
        offset: number;
        domain: readonly [number, number];
      }
    | undefined;
  #window: SlicedWindow | undefined;
  // Warm-up: the first N rows, kept until they become the reference.
  #warmupValues: Float64Array | undefined;
  #warmupScores: Float64Array | undefined;
  #warmupSeen = 0;
  #warmupHasScores = false;

  constructor(options: DriftMonitorOptions) {
    this.columns = options.columns;
    this.#options = resolveOptions(options);
    if ("warmupEvents" in options.reference) {
      const n = options.reference.warmupEvents;
      if (!Number.isInteger(n) || n < 1) {
        throw new RangeError(`drift warm-up: expected a positive number of events, got ${n}`);
      }
      this.#warmupValues = new Float64Array(n * options.columns.length);
      this.#warmupScores = new Float64Array(n).fill(Number.NaN);
    } else {
      this.#setReference(options.reference);
    }
  }

  /** The reference in use; undefined while warming up. */
  get reference(): ReferenceDistributions | undefined {
    return this.#reference;
  }

  /** Reference features that are not among the columns, so not monitored. */
  get unmonitored(): readonly string[] {
    const monitored = new Set(this.#slots.map((slot) => slot.subject));
    return (this.#reference?.features ?? [])
      .map((feature) => feature.name)
      .filter((name) => !monitored.has(name));
  }

  /**
   * Counts rows of a micro-batch at clock `now`: `values` row-major with `columns.length`
   * columns, `scores` one per row (or none), `rows` the rows to count (@default all: a version's
   * rows when a batch went to several).
   */
  observe(
    values: ArrayLike<number>,
    scores: ArrayLike<number> | undefined,
    now: number,
    rows?: ArrayLike<number>,
  ): void {
    const width = this.columns.length;
    const n = rows === undefined ? Math.floor(values.length / width) : rows.length;
    for (let i = 0; i < n; i++) {
      const row = rows === undefined ? i : rows[i]!;
      if (this.#window === undefined) {
        this.#warm(values, scores, row);
        continue;
      }
      const window = this.#window;
      const base = window.beginEvent(now);
      const counts = window.values;
      const rowOffset = row * width;
      const slots = this.#slots;
      for (let s = 0; s < slots.length; s++) {
        const slot = slots[s]!;
        const bin = binIndex(slot.edges, values[rowOffset + slot.column]!);
        counts[base + slot.offset + (bin < 0 ? slot.edges.length + 1 : bin)]!++;
      }
      if (scores !== undefined && this.#score !== undefined) {
        const score = scores[row]!;
        const bin = binIndex(this.#score.edges, score);
        counts[base + this.#score.offset + (bin < 0 ? this.#score.edges.length + 1 : bin)]!++;
        const cdf = this.#cdf!;
        const fine = binIndex(cdf.edges, score);
        if (fine >= 0) counts[base + cdf.offset + fine]!++;
      }
    }
  }

  /** The figures over the window at `now`, and the state changes they cause. */
  evaluate(now: number): DriftReport {
    const window = this.#window;
    if (window === undefined) {
      return {
        at: now,
        window: {
          events: 0,
          from: Number.NaN,
          to: Number.NaN,
          describe: describeWindow(this.#options.window),
        },
        judged: false,
        warmupRemaining: this.#warmupScores!.length - this.#warmupSeen,
        features: [],
        score: undefined,
        changes: [],
      };
    }
    const totals = window.totals(now);
    const extent = window.extent(now);
    const judged = extent.events >= this.#options.minEvents;
    const changes: DriftChange[] = [];
    const judge = (slot: Slot): SubjectDrift => {
      const psi = populationStabilityIndex(
        slot.proportions,
        totals,
        slot.offset,
        this.#options.epsilon,
      );
      if (judged) {
        const next = nextDriftState(slot.state, psi, this.#options.bands, this.#options.hysteresis);
        if (next !== slot.state) {
          changes.push({
            subject: slot.subject,
            kind: slot.kind,
            from: slot.state,
            to: next,
            psi,
            at: now,
            window: extent,
          });
          slot.state = next;
        }
      }
      return {
        subject: slot.subject,
        kind: slot.kind,
        psi,
        state: slot.state,
        missing: totals[slot.offset + slot.edges.length + 1]!,
      };
    };
    const features = this.#slots.map(judge);
    let score: SubjectDrift | undefined;
    if (this.#score !== undefined) {
      const cdf = this.#cdf!;
      score = {
        ...judge(this.#score),
        ks: ksFromBins(cdf.proportions, totals, cdf.offset),
        wasserstein: wassersteinFromBins(
          cdf.edges,
          cdf.proportions,
          totals,
          cdf.domain,
          cdf.offset,
        ),
      };
    }
    return {
      at: now,
      window: { ...extent, describe: describeWindow(window.spec) },
      judged,
      warmupRemaining: 0,
      features,
      score,
      changes,
    };
  }

  #warm(values: ArrayLike<number>, scores: ArrayLike<number> | undefined, row: number): void {
    const width = this.columns.length;
    const into = this.#warmupValues!;
    const at = this.#warmupSeen;
    for (let c = 0; c < width; c++) into[at * width + c] = values[row * width + c]!;
    if (scores !== undefined) {
      this.#warmupScores![at] = scores[row]!;
      this.#warmupHasScores = true;
    }
    this.#warmupSeen++;
    if (this.#warmupSeen === this.#warmupScores!.length) {
      const reference = referenceFromSamples(
        this.columns,
        into,
        this.#warmupSeen,
        this.#warmupHasScores ? this.#warmupScores : undefined,
      );
      this.#warmupValues = undefined;
      this.#setReference(reference);
    }
  }

  #setReference(reference: ReferenceDistributions): void {
    this.#reference = reference;
    let width = 0;
    const slot = (
      subject: string,
      kind: Slot["kind"],
      column: number,
      d: BinnedDistribution,
    ): Slot => {
      const s: Slot = {
        subject,
        kind,
        column,
        edges: Float64Array.from(d.edges),
        proportions: Float64Array.from(d.proportions),
        offset: width,
        state: "insufficient",
      };
      width += d.edges.length + 2; // bins, then the missing count
      return s;
    };
    this.#slots = [];
    for (const feature of reference.features) {
      const column = this.columns.indexOf(feature.name);
      if (column >= 0) this.#slots.push(slot(feature.name, "feature", column, feature));
    }
    if (reference.score !== undefined) {
      this.#score = slot("score", "score", -1, reference.score);
      const cdf = reference.score.cdf;
      this.#cdf = {
        edges: Float64Array.from(cdf.edges),
        proportions: Float64Array.from(cdf.proportions),
        offset: width,
        domain: reference.score.domain,
      };
      width += cdf.edges.length + 1;
    }
    this.#window = new SlicedWindow(Math.max(width, 1), this.#options.window);
  }
}
