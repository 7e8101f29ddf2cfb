/**
 * Guard rails of a canary: over a sliding window, the canary arm's error rate, latency percentile
 * and score distribution are compared with the primary arm's and with fixed limits; a breach
 * decides a rollback and says why. Pure: the caller passes what happened and the clock, and acts
 * on the verdict (moves the arm's users to the primary with `RolloutRouter.withRollback`, logs,
 * counts, publishes the event).
 *
 * Error-rate checks also ask for statistical significance (a one-sided z-test, 99 % by default),
 * so three unlucky errors in the first few hundred events do not roll a good canary back.
 */
import { z } from "zod";
import { expected, fraction, nonNegative, positiveInt, windowSchema } from "./config-schemas.js";
import { binIndex, ksFromBins, populationStabilityIndex } from "./distribution-distance.js";
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from "./latency-buckets.js";
import {
  SlicedWindow,
  describeWindow,
  type WindowExtent,
  type WindowSpec,
} from "./sliced-window.js";

/** Below this many events per arm nothing is judged: a thousand makes a 1 % error rate visible. */
export const DEFAULT_GUARD_MIN_EVENTS = 1_000;
/** z of a one-sided 99 % test: a breach by chance about once in a hundred windows that judge. */
export const DEFAULT_GUARD_Z = 2.326;
/** Ten minutes in ten slices: long enough for p99 latency to mean something at modest rates. */
export const DEFAULT_GUARD_WINDOW: WindowSpec = { kind: "time", durationMs: 600_000, slices: 10 };
/**
 * Score bins when none are given: edges at sigmoid(−8 … 4), even in logit, because a
 * classifier's scores crowd near 0 (and 1), where equal-width bins would put almost all in one.
 * A reference.json's score edges (its deciles) are better when there is one.
 */
export const DEFAULT_GUARD_SCORE_EDGES: readonly number[] = Array.from(
  { length: 13 },
  (_, i) => 1 / (1 + Math.exp(-(i - 8))),
);

export interface GuardRailLimits {
  /** Events each arm needs in the window before anything is judged. @default 1000 */
  readonly minEvents: number;
  /** z of the one-sided test an error-rate breach must pass. @default 2.326 (99 %) */
  readonly z: number;
  /** The canary's error rate may not exceed this (a share of its events). */
  readonly maxErrorRate: number | undefined;
  /** Nor this many times the primary's. */
  readonly maxErrorRateRatio: number | undefined;
  /** Which latency percentile is judged, 0–100. @default 99 */
  readonly latencyPercentile: number;
  readonly maxLatencyMs: number | undefined;
  /** The canary's latency percentile may not exceed this many times the primary's. */
  readonly maxLatencyRatio: number | undefined;
  /** PSI of the canary's scores against the primary's (the primary as reference). */
  readonly maxScorePsi: number | undefined;
  /** Kolmogorov–Smirnov distance of the same, read at the score bins' edges. */
  readonly maxScoreKs: number | undefined;
}

/** Guard rails of one canary arm against the primary. */
export interface GuardRailsConfig {
  /** The arm judged. */
  readonly arm: string;
  readonly window: WindowSpec;
  readonly limits: GuardRailLimits;
}

/**
 * The `guard_rails:` section of `rollout:`:
 *
 * ```yaml
 * guard_rails:
 *   arm: canary
 *   window: { duration: 10m }
 *   min_events: 1000
 *   error_rate: { max: 0.02, max_ratio: 2 }
 *   latency: { percentile: 99, max_ms: 250, max_ratio: 1.5 }
 *   score: { max_psi: 0.25, max_ks: 0.2 }
 * ```
 */
export const guardRailsSchema = z
  .strictObject({
    arm: z.string().min(1),
    window: windowSchema.optional(),
    min_events: positiveInt().default(DEFAULT_GUARD_MIN_EVENTS),
    z: nonNegative().default(DEFAULT_GUARD_Z),
    error_rate: z
      .strictObject({ max: fraction().optional(), max_ratio: nonNegative().optional() })
      .optional(),
    latency: z
      .strictObject({
        percentile: z
          .number(expected("a percentile from 1 to 100"))
          .min(1, expected("a percentile from 1 to 100"))
          .max(100, expected("a percentile from 1 to 100"))
          .default(99),
        max_ms: nonNegative().optional(),
        max_ratio: nonNegative().optional(),
      })
      .optional(),
    score: z
      .strictObject({ max_psi: nonNegative().optional(), max_ks: fraction().optional() })
      .optional(),
  })
  .transform((g): GuardRailsConfig => ({
    arm: g.arm,
    window: g.window ?? DEFAULT_GUARD_WINDOW,
    limits: {
      minEvents: g.min_events,
      z: g.z,
      maxErrorRate: g.error_rate?.max,
      maxErrorRateRatio: g.error_rate?.max_ratio,
      latencyPercentile: g.latency?.percentile ?? 99,
      maxLatencyMs: g.latency?.max_ms,
      maxLatencyRatio: g.latency?.max_ratio,
      maxScorePsi: g.score?.max_psi,
      maxScoreKs: g.score?.max_ks,
    },
  }));

/** What one arm did in one micro-batch: one call to the sidecar for `events` rows. */
export interface ArmObservation {
  readonly events: number;
  /** Rows that failed (the call failed: all of them; a bisected batch: the rejected ones). */
  readonly errors: number;
  /** The call's latency; every one of its events waited this long. */
  readonly latencyMs?: number;
  /** The scores of the rows that succeeded. */
  readonly scores?: ArrayLike<number>;
}

export interface ArmFigures {
  readonly events: number;
  readonly errors: number;
  readonly errorRate: number;
  /** The configured latency percentile, ms; NaN when no latency was observed. */
  readonly latencyMs: number;
  readonly scored: number;
}

export const GUARD_RAIL_CHECKS = [
  "error_rate",
  "error_rate_ratio",
  "latency",
  "latency_ratio",
  "score_psi",
  "score_ks",
] as const;
export type GuardRailCheck = (typeof GUARD_RAIL_CHECKS)[number];

export interface Breach {
  readonly check: GuardRailCheck;
  /** The canary's figure, and the primary's when the check compares them. */
  readonly canary: number;
  readonly primary: number | undefined;
  readonly limit: number;
  readonly message: string;
}

export interface GuardRailVerdict {
  /** `insufficient`: an arm has fewer than `minEvents` events in the window; nothing judged. */
  readonly decision: "rollback" | "pass" | "insufficient";
  readonly arm: string;
  readonly against: string;
  readonly breaches: readonly Breach[];
  readonly canary: ArmFigures;
  readonly primary: ArmFigures;
  /** PSI and KS of the canary's scores against the primary's; NaN when either has none. */
  readonly scorePsi: number;
  readonly scoreKs: number;
  readonly window: {
    readonly describe: string;
    readonly canary: WindowExtent;
    readonly primary: WindowExtent;
  };
  /** True when this verdict is a rollback decided earlier (latched): act on it only once. */
  readonly latched: boolean;
}

/** One-sided z of a share `p` of `n` exceeding `p0`. */
function zAbove(p: number, n: number, p0: number): number {
  const variance = (p0 * (1 - p0)) / n;
  return variance > 0 ? (p - p0) / Math.sqrt(variance) : p > p0 ? Number.POSITIVE_INFINITY : 0;
}

/** One-sided two-proportion z (pooled) of p1 of n1 exceeding p2 of n2. */
function zTwo(p1: number, n1: number, p2: number, n2: number): number {
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  return variance > 0 ? (p1 - p2) / Math.sqrt(variance) : 0;
}

const fmt = (value: number): string => Number(value.toPrecision(4)).toString();

/**
 * The checks, pure: which limits the canary's figures break. Assumes both arms have enough
 * events (the caller says `insufficient` otherwise).
 */
export function judgeCanary(
  canary: ArmFigures,
  primary: ArmFigures,
  scorePsi: number,
  scoreKs: number,
  limits: GuardRailLimits,
): Breach[] {
  const breaches: Breach[] = [];
  const z = limits.z;
  if (
    limits.maxErrorRate !== undefined &&
    canary.errorRate > limits.maxErrorRate &&
    zAbove(canary.errorRate, canary.events, limits.maxErrorRate) >= z
  ) {
    breaches.push({
      check: "error_rate",
      canary: canary.errorRate,
      primary: primary.errorRate,
      limit: limits.maxErrorRate,
      message: `error rate ${fmt(canary.errorRate)} (${canary.errors} of ${canary.events}) above the limit ${limits.maxErrorRate}`,
    });
  }
  if (
    limits.maxErrorRateRatio !== undefined &&
    canary.errorRate > limits.maxErrorRateRatio * primary.errorRate &&
    zTwo(canary.errorRate, canary.events, primary.errorRate, primary.events) >= z
  ) {
    breaches.push({
      check: "error_rate_ratio",
      canary: canary.errorRate,
      primary: primary.errorRate,
      limit: limits.maxErrorRateRatio,
      message: `error rate ${fmt(canary.errorRate)} above ${limits.maxErrorRateRatio} × the primary's ${fmt(primary.errorRate)}`,
    });
  }
  const p = limits.latencyPercentile;
  if (limits.maxLatencyMs !== undefined && canary.latencyMs > limits.maxLatencyMs) {
    breaches.push({
      check: "latency",
      canary: canary.latencyMs,
      primary: primary.latencyMs,
      limit: limits.maxLatencyMs,
      message: `p${p} latency ${fmt(canary.latencyMs)} ms above the limit ${limits.maxLatencyMs} ms`,
    });
  }
  if (
    limits.maxLatencyRatio !== undefined &&
    canary.latencyMs > limits.maxLatencyRatio * primary.latencyMs
  ) {
    breaches.push({
      check: "latency_ratio",
      canary: canary.latencyMs,
      primary: primary.latencyMs,
      limit: limits.maxLatencyRatio,
      message: `p${p} latency ${fmt(canary.latencyMs)} ms above ${limits.maxLatencyRatio} × the primary's ${fmt(primary.latencyMs)} ms`,
    });
  }
  if (limits.maxScorePsi !== undefined && scorePsi > limits.maxScorePsi) {
    breaches.push({
      check: "score_psi",
      canary: scorePsi,
      primary: undefined,
      limit: limits.maxScorePsi,
      message: `score PSI against the primary ${fmt(scorePsi)} above the limit ${limits.maxScorePsi}`,
    });
  }
  if (limits.maxScoreKs !== undefined && scoreKs > limits.maxScoreKs) {
    breaches.push({
      check: "score_ks",
      canary: scoreKs,
      primary: undefined,
      limit: limits.maxScoreKs,
      message: `score KS distance from the primary ${fmt(scoreKs)} above the limit ${limits.maxScoreKs}`,
    });
  }
  return breaches;
}

// One arm's window: [events, errors, latency buckets…, score bins…].
const EVENTS = 0;
const ERRORS = 1;
const LATENCY = 2;
const SCORES = LATENCY + LATENCY_BUCKETS;

export interface GuardRailsOptions extends GuardRailsConfig {
  /** The arm compared against (the rollout's primary). */
  readonly against: string;
  /** Score bin edges. @default DEFAULT_GUARD_SCORE_EDGES */
  readonly scoreEdges?: readonly number[];
}

export class GuardRails {
  readonly arm: string;
  readonly against: string;
  readonly #limits: GuardRailLimits;
  readonly #edges: readonly number[];
  readonly #canary: SlicedWindow;
  readonly #primary: SlicedWindow;
  readonly #reference: Float64Array;
  #latched: GuardRailVerdict | undefined;

  constructor(options: GuardRailsOptions) {
    if (options.arm === options.against) {
      throw new RangeError(`guard rails: the arm judged and the primary are both "${options.arm}"`);
    }
    this.arm = options.arm;
    this.against = options.against;
    this.#limits = options.limits;
    this.#edges = options.scoreEdges ?? DEFAULT_GUARD_SCORE_EDGES;
    const width = SCORES + this.#edges.length + 1;
    this.#canary = new SlicedWindow(width, options.window);
    this.#primary = new SlicedWindow(width, options.window);
    this.#reference = new Float64Array(this.#edges.length + 1);
  }

  /** The latched rollback, if one was decided. */
  get tripped(): GuardRailVerdict | undefined {
    return this.#latched;
  }

  /** Counts one call's outcome for `arm`; other arms than the two compared are ignored. */
  observe(arm: string, observation: ArmObservation, now: number): void {
    const window =
      arm === this.arm ? this.#canary : arm === this.against ? this.#primary : undefined;
    if (window === undefined || observation.events <= 0) return;
    const base = window.beginEvent(now, observation.events);
    const values = window.values;
    values[base + EVENTS]! += observation.events;
    values[base + ERRORS]! += observation.errors;
    if (observation.latencyMs !== undefined) {
      values[base + LATENCY + latencyBucket(observation.latencyMs)]! += observation.events;
    }
    const scores = observation.scores;
    if (scores !== undefined) {
      for (let i = 0; i < scores.length; i++) {
        const bin = binIndex(this.#edges, scores[i]!);
        if (bin >= 0) values[base + SCORES + bin]!++;
      }
    }
  }

  /**
   * Judges the window at `now`. Once a rollback is decided it is latched: later calls return it
   * with `latched: true` until `reset()`.
   */
  evaluate(now: number): GuardRailVerdict {
    if (this.#latched !== undefined) return { ...this.#latched, latched: true };
    const canaryTotals = this.#canary.totals(now);
    const canary = this.#figures(canaryTotals);
    const primaryTotals = this.#primary.totals(now);
    const primary = this.#figures(primaryTotals);
    let scorePsi = Number.NaN;
    let scoreKs = Number.NaN;
    if (canary.scored > 0 && primary.scored > 0) {
      for (let i = 0; i < this.#reference.length; i++) {
        this.#reference[i] = primaryTotals[SCORES + i]! / primary.scored;
      }
      scorePsi = populationStabilityIndex(this.#reference, canaryTotals, SCORES);
      scoreKs = ksFromBins(this.#reference, canaryTotals, SCORES).value;
    }
    const enough =
      canary.events >= this.#limits.minEvents && primary.events >= this.#limits.minEvents;
    const breaches = enough ? judgeCanary(canary, primary, scorePsi, scoreKs, this.#limits) : [];
    const verdict: GuardRailVerdict = {
      decision: !enough ? "insufficient" : breaches.length > 0 ? "rollback" : "pass",
      arm: this.arm,
      against: this.against,
      breaches,
      canary,
      primary,
      scorePsi,
      scoreKs,
      window: {
        describe: describeWindow(this.#canary.spec),
        canary: this.#canary.extent(now),
        primary: this.#primary.extent(now),
      },
      latched: false,
    };
    if (verdict.decision === "rollback") this.#latched = verdict;
    return verdict;
  }

  /** Forgets the latched rollback and the windows: the arm starts over (a new canary). */
  reset(): void {
    this.#latched = undefined;
    this.#canary.clear();
    this.#primary.clear();
  }

  #figures(totals: Float64Array): ArmFigures {
    const events = totals[EVENTS]!;
    const errors = totals[ERRORS]!;
    let scored = 0;
    for (let i = SCORES; i < totals.length; i++) scored += totals[i]!;
    return {
      events,
      errors,
      errorRate: events > 0 ? errors / events : 0,
      latencyMs: latencyQuantile(totals, LATENCY, this.#limits.latencyPercentile / 100),
      scored,
    };
  }
}
