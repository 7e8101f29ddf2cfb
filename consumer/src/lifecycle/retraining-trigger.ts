/**
 * The retraining trigger of one model version: when drift or evaluated performance crosses a
 * configured threshold and stays across it for a configured time, ONE event with the evidence
 * (which features, which figures, over which window, since when), then nothing for a cooldown.
 * Sluice never retrains: the event goes to a topic or a webhook for whatever does.
 *
 * ```yaml
 * retraining:
 *   cooldown: 24h                      # at most one event per day
 *   conditions:
 *     - { metric: psi, subject: any_feature, above: 0.25, for: 1h }
 *     - { metric: psi, subject: score, above: 0.25, for: 1h }
 *     - { metric: roc_auc, below: 0.95, for: 6h, min_labels: 500 }
 *   topic: fraud-retraining            # and/or
 *   webhook: { url: "https://ci.example.com/hooks/retrain", timeout_ms: 5000 }
 * ```
 *
 * Pure: `update` gets the latest drift report and/or evaluation figures and the clock. A
 * condition holds from the first update that shows it crossed; an update that shows it not
 * crossed, or cannot tell (drift not judged, too few labels), starts it over. An update without
 * the condition's source (drift only, say, for an evaluation condition) leaves it as it was.
 */
import { z } from "zod";
import { durationMs, nonNegative, parseSection, positiveInt } from "./config-schemas.js";
import type { DriftReport, DriftState } from "./drift-monitor.js";
import type { EvaluationFigures } from "./online-evaluator.js";

export const DRIFT_METRICS = ["psi", "ks", "wasserstein"] as const;
export const EVALUATION_METRICS = [
  "roc_auc",
  "precision",
  "recall",
  "log_loss",
  "brier",
  "ece",
] as const;
export const RETRAINING_METRICS = [...DRIFT_METRICS, ...EVALUATION_METRICS] as const;
export type RetrainingMetric = (typeof RETRAINING_METRICS)[number];

/** A day between events: a retraining pipeline takes hours; a reminder a day is plenty. */
export const DEFAULT_RETRAINING_COOLDOWN_MS = 24 * 3_600_000;
/** Fewer labels than this say little about AUC or recall at a 1 % positive rate. */
export const DEFAULT_RETRAINING_MIN_LABELS = 500;
/** The subject of a PSI condition over every monitored feature (the worst one counts). */
export const ANY_FEATURE = "any_feature";

export interface RetrainingCondition {
  readonly metric: RetrainingMetric;
  /** psi: a feature name, `score` or `any_feature`; ks and wasserstein: the score. */
  readonly subject: string | undefined;
  readonly above: number | undefined;
  readonly below: number | undefined;
  readonly forMs: number;
  /** Evaluation metrics: judged only with at least this many labels in the window. */
  readonly minLabels: number;
}

export interface RetrainingConfig {
  readonly cooldownMs: number;
  readonly conditions: readonly RetrainingCondition[];
  /** Where each event goes as JSON; none when undefined. */
  readonly topic?: string | undefined;
  /** Where each event is POSTed as JSON; none when undefined. */
  readonly webhook?: { readonly url: string; readonly timeoutMs: number } | undefined;
}

/** A webhook that has not answered in five seconds is down; the event is logged as not delivered. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;

const conditionSchema = z
  .strictObject({
    metric: z.enum(RETRAINING_METRICS),
    subject: z.string().min(1).optional(),
    above: nonNegative().optional(),
    below: nonNegative().optional(),
    for: durationMs,
    min_labels: positiveInt().default(DEFAULT_RETRAINING_MIN_LABELS),
  })
  .superRefine((c, ctx) => {
    if ((c.above === undefined) === (c.below === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: `expected either above or below (a threshold), got ${c.above === undefined ? "neither" : "both"}`,
      });
    }
    if (c.metric === "psi" && c.subject === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["subject"],
        message: `expected a feature name, "score" or "${ANY_FEATURE}" for psi, got nothing`,
      });
    }
    if ((c.metric === "ks" || c.metric === "wasserstein") && (c.subject ?? "score") !== "score") {
      ctx.addIssue({
        code: "custom",
        path: ["subject"],
        message: `expected "score" (${c.metric} is measured for the score only), got ${JSON.stringify(c.subject)}`,
      });
    }
  });

const retrainingSchema = z
  .strictObject({
    cooldown: durationMs.optional(),
    conditions: z.array(conditionSchema).min(1),
    topic: z
      .string()
      .regex(TOPIC_RE, {
        error: (issue) =>
          `expected a topic name of letters, digits, ".", "_" or "-" (at most 249), got ${JSON.stringify(issue.input)}`,
      })
      .optional(),
    webhook: z
      .strictObject({
        url: z.url({
          protocol: /^https?$/,
          error: (issue) =>
            `expected an http:// or https:// URL, got ${JSON.stringify(issue.input)}`,
        }),
        timeout_ms: positiveInt().default(DEFAULT_WEBHOOK_TIMEOUT_MS),
      })
      .optional(),
  })
  .transform((r): RetrainingConfig => ({
    topic: r.topic,
    webhook:
      r.webhook === undefined ? undefined : { url: r.webhook.url, timeoutMs: r.webhook.timeout_ms },
    cooldownMs: r.cooldown ?? DEFAULT_RETRAINING_COOLDOWN_MS,
    conditions: r.conditions.map((c) => ({
      metric: c.metric,
      subject: c.metric === "ks" || c.metric === "wasserstein" ? "score" : c.subject,
      above: c.above,
      below: c.below,
      forMs: c.for,
      minLabels: c.min_labels,
    })),
  }));

/** Validates a `retraining:` section; messages name their path under `root`. */
export function parseRetrainingConfig(
  value: unknown,
  root: readonly PropertyKey[] = ["pipeline", "retraining"],
): RetrainingConfig {
  return parseSection(retrainingSchema, value, root);
}

/** One condition that held long enough, with what showed it. */
export interface RetrainingEvidence {
  /** `psi of amount_log above 0.25 for 1h`. */
  readonly condition: string;
  readonly metric: RetrainingMetric;
  /** The feature(s) or `score` it was measured on; empty for evaluation metrics. */
  readonly subjects: readonly string[];
  readonly value: number;
  readonly threshold: number;
  /** When it was first seen crossed, and how long it has held. */
  readonly since: number;
  readonly heldMs: number;
}

export interface RetrainingEvent {
  readonly type: "retraining_requested";
  readonly model: string;
  readonly version: string;
  readonly at: number;
  readonly reasons: readonly RetrainingEvidence[];
  /** The latest drift figures: every feature's PSI and state, the score's PSI, KS and Wasserstein. */
  readonly drift:
    | {
        readonly window: DriftReport["window"];
        readonly features: readonly { name: string; psi: number; state: DriftState }[];
        readonly score:
          { psi: number; ks: number | undefined; wasserstein: number | undefined } | undefined;
      }
    | undefined;
  /** The latest evaluation figures of the version. */
  readonly evaluation:
    | {
        readonly window: EvaluationFigures["window"];
        readonly labels: number;
        readonly rocAuc: number;
        readonly precision: number;
        readonly recall: number;
        readonly logLoss: number;
        readonly ece: number;
      }
    | undefined;
}

export interface RetrainingTriggerOptions extends RetrainingConfig {
  readonly model: string;
  readonly version: string;
}

export interface RetrainingInputs {
  readonly drift?: DriftReport;
  readonly evaluation?: EvaluationFigures;
}

/** The figure a condition reads, and on what; undefined when the inputs cannot tell. */
interface Reading {
  readonly value: number;
  readonly subjects: readonly string[];
}

function describeDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function describeCondition(c: RetrainingCondition): string {
  const on =
    c.subject === undefined ? "" : ` of ${c.subject === ANY_FEATURE ? "any feature" : c.subject}`;
  const threshold = c.above !== undefined ? `above ${c.above}` : `below ${c.below}`;
  return `${c.metric}${on} ${threshold} for ${describeDuration(c.forMs)}`;
}

export class RetrainingTrigger {
  readonly model: string;
  readonly version: string;
  readonly #conditions: readonly RetrainingCondition[];
  readonly #cooldownMs: number;
  readonly #since: (number | undefined)[];
  readonly #readings: (Reading | undefined)[];
  #lastFired: number | undefined;
  #drift: DriftReport | undefined;
  #evaluation: EvaluationFigures | undefined;

  constructor(options: RetrainingTriggerOptions) {
    if (options.conditions.length === 0)
      throw new RangeError("retraining: expected at least one condition");
    this.model = options.model;
    this.version = options.version;
    this.#conditions = options.conditions;
    this.#cooldownMs = options.cooldownMs;
    this.#since = options.conditions.map(() => undefined);
    this.#readings = options.conditions.map(() => undefined);
  }

  /** Per condition, since when it has held (undefined: it does not). */
  get holding(): readonly { condition: string; since: number | undefined }[] {
    return this.#conditions.map((c, i) => ({
      condition: describeCondition(c),
      since: this.#since[i],
    }));
  }

  /** Takes the latest figures; returns the one event when a condition has held long enough. */
  update(now: number, inputs: RetrainingInputs): RetrainingEvent | undefined {
    if (inputs.drift !== undefined) this.#drift = inputs.drift;
    if (inputs.evaluation !== undefined) this.#evaluation = inputs.evaluation;
    this.#conditions.forEach((condition, i) => {
      const fromDrift = (DRIFT_METRICS as readonly string[]).includes(condition.metric);
      if (fromDrift ? inputs.drift === undefined : inputs.evaluation === undefined) return;
      const reading = fromDrift
        ? this.#driftReading(condition, inputs.drift!)
        : this.#evaluationReading(condition, inputs.evaluation!);
      const crossed =
        reading !== undefined &&
        (condition.above !== undefined
          ? reading.value > condition.above
          : reading.value < condition.below!);
      this.#readings[i] = crossed ? reading : undefined;
      if (!crossed) this.#since[i] = undefined;
      else this.#since[i] ??= now;
    });
    const reasons: RetrainingEvidence[] = [];
    this.#conditions.forEach((condition, i) => {
      const since = this.#since[i];
      const reading = this.#readings[i];
      if (since === undefined || reading === undefined || now - since < condition.forMs) return;
      reasons.push({
        condition: describeCondition(condition),
        metric: condition.metric,
        subjects: reading.subjects,
        value: reading.value,
        threshold: condition.above ?? condition.below!,
        since,
        heldMs: now - since,
      });
    });
    if (reasons.length === 0) return undefined;
    if (this.#lastFired !== undefined && now - this.#lastFired < this.#cooldownMs) return undefined;
    this.#lastFired = now;
    return {
      type: "retraining_requested",
      model: this.model,
      version: this.version,
      at: now,
      reasons,
      drift: this.#driftSummary(),
      evaluation: this.#evaluationSummary(),
    };
  }

  #driftReading(condition: RetrainingCondition, drift: DriftReport): Reading | undefined {
    if (!drift.judged) return undefined;
    if (condition.metric === "psi") {
      if (condition.subject === "score") {
        return drift.score === undefined
          ? undefined
          : { value: drift.score.psi, subjects: ["score"] };
      }
      if (condition.subject === ANY_FEATURE) {
        if (drift.features.length === 0) return undefined;
        // The worst feature decides; every feature across the threshold is named.
        const worst = Math.max(...drift.features.map((f) => f.psi));
        const threshold = condition.above ?? condition.below!;
        const named = drift.features
          .filter((f) => (condition.above !== undefined ? f.psi > threshold : f.psi < threshold))
          .map((f) => f.subject);
        return {
          value:
            condition.above !== undefined ? worst : Math.min(...drift.features.map((f) => f.psi)),
          subjects: named,
        };
      }
      const feature = drift.features.find((f) => f.subject === condition.subject);
      return feature === undefined
        ? undefined
        : { value: feature.psi, subjects: [feature.subject] };
    }
    const distance = condition.metric === "ks" ? drift.score?.ks : drift.score?.wasserstein;
    return distance === undefined ? undefined : { value: distance.value, subjects: ["score"] };
  }

  #evaluationReading(
    condition: RetrainingCondition,
    figures: EvaluationFigures,
  ): Reading | undefined {
    if (figures.labels < condition.minLabels) return undefined;
    const value = {
      roc_auc: figures.rocAuc,
      precision: figures.precision,
      recall: figures.recall,
      log_loss: figures.logLoss,
      brier: figures.brier,
      ece: figures.ece,
    }[condition.metric as (typeof EVALUATION_METRICS)[number]];
    return Number.isNaN(value) ? undefined : { value, subjects: [] };
  }

  #driftSummary(): RetrainingEvent["drift"] {
    const drift = this.#drift;
    if (drift === undefined) return undefined;
    return {
      window: drift.window,
      features: drift.features.map((f) => ({ name: f.subject, psi: f.psi, state: f.state })),
      score:
        drift.score === undefined
          ? undefined
          : {
              psi: drift.score.psi,
              ks: drift.score.ks?.value,
              wasserstein: drift.score.wasserstein?.value,
            },
    };
  }

  #evaluationSummary(): RetrainingEvent["evaluation"] {
    const e = this.#evaluation;
    if (e === undefined) return undefined;
    return {
      window: e.window,
      labels: e.labels,
      rocAuc: e.rocAuc,
      precision: e.precision,
      recall: e.recall,
      logLoss: e.logLoss,
      ece: e.ece,
    };
  }
}
