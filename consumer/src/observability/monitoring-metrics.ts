/**
 * A monitored pipeline's figures (docs/monitoring.md): the latest drift report per model version,
 * drift events by band, the latest evaluation figures per version and arm, labels by outcome and
 * retraining events. Plain values the monitor (monitoring/model-monitor.ts) keeps up to date;
 * `ConsumerMetrics` renders its series from them at scrape time, as it does the rollout's. A
 * pipeline without a `monitoring:` section has none of this.
 */
import type { DriftReport, DriftState } from "../lifecycle/drift-monitor.js";
import type { EvaluationFigures } from "../lifecycle/online-evaluator.js";

/** What happened to each label or prediction side that reached the join. */
export const LABEL_OUTCOMES = ["joined", "waiting", "duplicate", "invalid"] as const;
export type LabelOutcome = (typeof LABEL_OUTCOMES)[number];

/** The band gauge's value of a judged state: 0 stable, 1 moderate, 2 major. */
export function bandValue(state: DriftState): number | undefined {
  return state === "stable" ? 0 : state === "moderate" ? 1 : state === "major" ? 2 : undefined;
}

export class MonitoringMetrics {
  /** By model version: its monitor's latest report. */
  readonly drift = new Map<string, DriftReport>();
  /** `<version>\n<band>` → drift events published (one per subject's band change). */
  readonly driftEvents = new Map<string, number>();
  /** `<version>\n<arm>` → the evaluator's latest figures. */
  readonly evaluation = new Map<string, EvaluationFigures>();
  /** Label-join outcomes, from both sides (predictions recorded, labels consumed). */
  readonly labels = new Map<LabelOutcome, number>();
  /** Retraining events emitted (a model per pipeline, so one number). */
  retrainingEvents = 0;

  driftEvent(version: string, band: DriftState): void {
    const key = `${version}\n${band}`;
    this.driftEvents.set(key, (this.driftEvents.get(key) ?? 0) + 1);
  }

  label(outcome: LabelOutcome, count: number): void {
    if (count > 0) this.labels.set(outcome, (this.labels.get(outcome) ?? 0) + count);
  }
}
