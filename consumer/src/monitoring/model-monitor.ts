/**
 * A pipeline's model monitoring (docs/monitoring.md), fed by the micro-batches: per model version
 * that answers, a `DriftMonitor` over its feature rows and scores; one `OnlineEvaluator` over the
 * predictions whose labels arrived; per version, when a `retraining:` section asks, a
 * `RetrainingTrigger` reading both.
 *
 * When each call happens (consumer/src/lifecycle/README.md, "Call sites"):
 * - `scored`, per micro-batch after scoring: the rows go to their version's drift window. A retried
 *   micro-batch is counted again, noise in a window of thousands of events.
 * - `committed`, once a micro-batch (of the input or of the label topic) has committed: the joined
 *   pairs it completed go to the evaluator (so a retried batch counts them once), then the drift
 *   reports are judged, every band change is logged, counted and published, and the retraining
 *   conditions are updated.
 *
 * Publishing never holds up the pipeline: an event that cannot be written is logged, as the
 * rollout's rollback events are.
 */
import { errorMessage, type Logger } from "@sluice/kit";
import { DriftMonitor, type DriftChange, type DriftReport } from "../lifecycle/drift-monitor.js";
import type {
  DriftSectionConfig,
  EvaluationSectionConfig,
} from "../lifecycle/monitoring-config.js";
import { OnlineEvaluator, type EvaluationFigures } from "../lifecycle/online-evaluator.js";
import type { ReferenceDistributions } from "../lifecycle/reference-distribution.js";
import {
  RetrainingTrigger,
  type RetrainingConfig,
  type RetrainingEvent,
} from "../lifecycle/retraining-trigger.js";
import type { MonitoringMetrics } from "../observability/monitoring-metrics.js";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import type { JoinedLabel } from "../ports/label-join.js";
import type { ScoreOutcome } from "../pipeline/scorer.js";
import { scoreOf } from "../rollout/shadow-scorer.js";

/** A retraining event as JSON on the topic and in the webhook's body (docs/monitoring.md). */
export type RetrainingEventJson = Omit<RetrainingEvent, "at"> & {
  readonly pipeline: string;
  readonly at: string;
};

/** Where a retraining event goes besides the topic: a webhook (adapters/retraining-webhook.ts). */
export type RetrainingSink = (event: RetrainingEventJson) => Promise<void>;

export interface ModelMonitorOptions {
  readonly pipeline: string;
  readonly model: string;
  /** The feature rows' column names, in order (the feature spec's outputs). */
  readonly columns: readonly string[];
  readonly drift: DriftSectionConfig | undefined;
  /** By version: the reference.json of each version of the model repository (`reference: file`). */
  readonly references: ReadonlyMap<string, ReferenceDistributions>;
  readonly evaluation: EvaluationSectionConfig | undefined;
  readonly retraining:
    | (Omit<RetrainingConfig, "webhook"> & { readonly webhook?: RetrainingSink | undefined })
    | undefined;
  readonly metrics: MonitoringMetrics;
  readonly log: Logger;
  /** Writes the drift, evaluation and retraining topics; required when one is configured. */
  readonly producer: KafkaProducer | undefined;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The JSON of a drift event on `monitoring.drift.topic` (docs/monitoring.md). */
export interface DriftEvent {
  readonly type: "drift";
  readonly pipeline: string;
  readonly model: string;
  readonly version: string;
  readonly subject: string;
  readonly kind: "feature" | "score";
  readonly from: string;
  readonly to: string;
  readonly psi: number;
  readonly bands: { readonly moderate: number; readonly major: number };
  readonly reference: "file" | "warmup";
  readonly window: {
    readonly events: number;
    readonly from: string;
    readonly to: string;
    readonly describe: string;
  };
  /** The score's distances at the same moment (every event has them when the score is monitored). */
  readonly score:
    | {
        readonly psi: number;
        readonly ks: number;
        readonly ks_bound: number;
        readonly wasserstein: number;
        readonly wasserstein_bound: number;
      }
    | undefined;
  readonly at: string;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}

export class ModelMonitor {
  readonly #options: ModelMonitorOptions;
  readonly #now: () => number;
  readonly #drift = new Map<string, DriftMonitor>();
  /** Versions that answered without a reference.json: warned about once, not monitored. */
  readonly #unreferenced = new Set<string>();
  readonly #evaluator: OnlineEvaluator | undefined;
  readonly #triggers = new Map<string, RetrainingTrigger>();

  constructor(options: ModelMonitorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const evaluation = options.evaluation;
    this.#evaluator =
      evaluation === undefined
        ? undefined
        : new OnlineEvaluator({
            window: evaluation.window,
            threshold: evaluation.threshold,
            thresholds: evaluation.thresholds,
          });
  }

  /** Whether joined labels are evaluated (a `monitoring.evaluation` section). */
  get evaluates(): boolean {
    return this.#evaluator !== undefined;
  }

  /** A scored micro-batch: each scored row goes to the drift window of the version that answered. */
  scored(rows: Float32Array, count: number, scores: readonly ScoreOutcome[]): void {
    if (this.#options.drift === undefined || count === 0) return;
    const byVersion = new Map<string, number[]>();
    for (let row = 0; row < count; row++) {
      const outcome = scores[row];
      if (outcome === undefined || !outcome.ok) continue;
      const version = outcome.score.modelVersion;
      let list = byVersion.get(version);
      if (list === undefined) byVersion.set(version, (list = []));
      list.push(row);
    }
    if (byVersion.size === 0) return;
    const all = new Float64Array(count);
    for (let row = 0; row < count; row++) {
      const outcome = scores[row];
      all[row] = outcome !== undefined && outcome.ok ? scoreOf(outcome.score) : Number.NaN;
    }
    const now = this.#now();
    for (const [version, list] of byVersion) {
      this.#driftOf(version)?.observe(rows, all, now, list);
    }
  }

  /**
   * A micro-batch committed: `joined` (the pairs it completed, from either side of the join) are
   * evaluated, then drift is judged and the retraining conditions updated.
   */
  committed(joined: readonly JoinedLabel[] = []): void {
    const now = this.#now();
    const evaluator = this.#evaluator;
    const touched = new Set<string>();
    if (evaluator !== undefined && joined.length > 0) {
      evaluator.observe(joined, now);
      for (const pair of joined) touched.add(`${pair.version}\n${pair.arm}`);
    }
    const { metrics } = this.#options;
    for (const [version, monitor] of this.#drift) {
      const report = monitor.evaluate(now);
      metrics.drift.set(version, report);
      for (const change of report.changes) this.#changed(version, monitor, report, change);
      this.#retrain(version, now, { drift: report });
    }
    if (evaluator === undefined) return;
    const snapshot = evaluator.snapshot(now);
    // Retraining reads one set of figures per version: its arm with the most labels (the
    // primary's, usually), as the trigger judges a version, not an arm.
    const largest = new Map<string, EvaluationFigures>();
    for (const figures of snapshot) {
      metrics.evaluation.set(`${figures.version}\n${figures.arm}`, figures);
      if (touched.has(`${figures.version}\n${figures.arm}`)) this.#publishEvaluation(figures);
      const seen = largest.get(figures.version);
      if (seen === undefined || figures.labels > seen.labels) largest.set(figures.version, figures);
    }
    for (const [version, figures] of largest) this.#retrain(version, now, { evaluation: figures });
  }

  /** The drift monitor of `version`, made on its first scored row; undefined: not monitored. */
  #driftOf(version: string): DriftMonitor | undefined {
    const existing = this.#drift.get(version);
    if (existing !== undefined) return existing;
    const drift = this.#options.drift!;
    let reference: ConstructorParameters<typeof DriftMonitor>[0]["reference"];
    if (drift.reference.kind === "warmup") {
      reference = { warmupEvents: drift.reference.events };
    } else {
      const file = this.#options.references.get(version);
      if (file === undefined) {
        if (!this.#unreferenced.has(version)) {
          this.#unreferenced.add(version);
          this.#options.log.warn(
            { version },
            `pipeline "${this.#options.pipeline}": version ${version} of "${this.#options.model}" answered, but ${drift.reference.modelRepository} has no reference.json for it; its drift is not monitored`,
          );
        }
        return undefined;
      }
      reference = file;
    }
    const monitor = new DriftMonitor({
      columns: this.#options.columns,
      reference,
      window: drift.window,
      minEvents: drift.minEvents,
      bands: drift.bands,
      hysteresis: drift.hysteresis,
    });
    if (monitor.unmonitored.length > 0) {
      this.#options.log.warn(
        { version, features: monitor.unmonitored },
        `pipeline "${this.#options.pipeline}": reference features ${monitor.unmonitored.join(", ")} of version ${version} are not among the pipeline's features; not monitored`,
      );
    }
    this.#drift.set(version, monitor);
    return monitor;
  }

  #changed(version: string, monitor: DriftMonitor, report: DriftReport, change: DriftChange): void {
    // The first judgement of a subject as stable is no news; every other change is.
    if (change.from === "insufficient" && change.to === "stable") return;
    const { pipeline, model, log, metrics } = this.#options;
    const drift = this.#options.drift!;
    metrics.driftEvent(version, change.to);
    const message = `pipeline "${pipeline}": drift of ${change.kind === "score" ? "the score" : `feature "${change.subject}"`} of "${model}" version ${version}: ${change.from} → ${change.to} (PSI ${change.psi.toFixed(3)} over ${report.window.describe}, ${report.window.events} events)`;
    const fields = {
      version,
      subject: change.subject,
      from: change.from,
      to: change.to,
      psi: change.psi,
    };
    if (change.to === "major" || (change.to === "moderate" && change.from !== "major")) {
      log.warn(fields, message);
    } else log.info(fields, message);
    const score = report.score;
    const event: DriftEvent = {
      type: "drift",
      pipeline,
      model,
      version,
      subject: change.subject,
      kind: change.kind,
      from: change.from,
      to: change.to,
      psi: change.psi,
      bands: drift.bands,
      reference: monitor.reference?.source ?? "warmup",
      window: {
        events: report.window.events,
        from: iso(report.window.from),
        to: iso(report.window.to),
        describe: report.window.describe,
      },
      score:
        score?.ks === undefined || score.wasserstein === undefined
          ? undefined
          : {
              psi: score.psi,
              ks: score.ks.value,
              ks_bound: score.ks.bound,
              wasserstein: score.wasserstein.value,
              wasserstein_bound: score.wasserstein.bound,
            },
      at: iso(change.at),
    };
    this.#publish(drift.topic, `${model}/${version}`, event, "drift event");
  }

  #publishEvaluation(figures: EvaluationFigures): void {
    const topic = this.#options.evaluation?.topic;
    if (topic === undefined) return;
    const { pipeline, model } = this.#options;
    const { window, calibration, ...rest } = figures;
    const record = {
      type: "evaluation",
      pipeline,
      model,
      ...rest,
      window: { ...window, from: iso(window.from), to: iso(window.to) },
      calibration,
      at: iso(this.#now()),
    };
    this.#publish(topic, `${model}/${figures.version}/${figures.arm}`, record, "evaluation");
  }

  #retrain(version: string, now: number, inputs: Parameters<RetrainingTrigger["update"]>[1]): void {
    const retraining = this.#options.retraining;
    if (retraining === undefined) return;
    let trigger = this.#triggers.get(version);
    if (trigger === undefined) {
      trigger = new RetrainingTrigger({
        cooldownMs: retraining.cooldownMs,
        conditions: retraining.conditions,
        model: this.#options.model,
        version,
      });
      this.#triggers.set(version, trigger);
    }
    const event = trigger.update(now, inputs);
    if (event === undefined) return;
    const { pipeline, model, log, metrics } = this.#options;
    metrics.retrainingEvents++;
    log.warn(
      { version, reasons: event.reasons.map((r) => r.condition) },
      `pipeline "${pipeline}": retraining of "${model}" version ${version} requested: ${event.reasons.map((r) => `${r.condition} (${r.subjects.length > 0 ? `${r.subjects.join(", ")}: ` : ""}${r.value.toFixed(4)})`).join("; ")}`,
    );
    const body: RetrainingEventJson = { ...event, pipeline, at: iso(event.at) };
    this.#publish(retraining.topic, `${model}/${version}`, body, "retraining event");
    const webhook = retraining.webhook;
    if (webhook !== undefined) {
      webhook(body).catch((error: unknown) => {
        log.error(
          { version },
          `pipeline "${pipeline}": the retraining webhook failed: ${errorMessage(error)}`,
        );
      });
    }
  }

  #publish(topic: string | undefined, key: string, value: unknown, what: string): void {
    const producer = this.#options.producer;
    if (topic === undefined || producer === undefined) return;
    const record: OutputRecord = {
      topic,
      key: Buffer.from(key),
      value: JSON.stringify(value),
      headers: {},
    };
    producer.send([record]).catch((error: unknown) => {
      this.#options.log.error(
        { topic },
        `pipeline "${this.#options.pipeline}": cannot publish a ${what} to ${topic}: ${errorMessage(error)}`,
      );
    });
  }
}
