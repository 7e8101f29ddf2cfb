/**
 * The shadow: a candidate version scores the same micro-batch's shadowed rows in one extra
 * ModelInfer, started with the primary's calls and never awaited by the micro-batch. Its result
 * never reaches the output topic: it is compared with the primary's (label agreement, score
 * difference) for the metrics and, optionally, written to `rollout.shadow.topic`.
 *
 * A slow or failing shadow never delays or fails the primary: the call has its own deadline
 * (`shadow.deadline_ms`, also the gRPC deadline), a timer settles it at that deadline whatever the
 * transport does, a failure is counted (`sluice_consumer_shadow_requests_total`) and never
 * retried, and the comparison happens when both sides are done, off the micro-batch's path.
 */
import { errorMessage, type Logger } from "@sluice/kit";
import type { ShadowConfig } from "../lifecycle/rollout-config.js";
import type { ShadowOutcome } from "../observability/rollout-metrics.js";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import type { RowSubjects } from "../pipeline/micro-batch-stages.js";
import type { Score, ScoreOutcome, Scorer } from "../pipeline/scorer.js";
import type { RolloutControl } from "./rollout-control.js";

/** The JSON value of a shadow record (`rollout.shadow.topic`). */
export interface ShadowRecord {
  /** The event's id field, or null when it has none. */
  readonly id: string | null;
  readonly entity: string;
  readonly model: string;
  readonly primary: {
    readonly arm: string | undefined;
    readonly version: string;
    readonly label: number;
    readonly score: number;
  };
  readonly shadow: { readonly version: string; readonly label: number; readonly score: number };
  readonly agree: boolean;
  /** Shadow score − primary score. */
  readonly score_difference: number;
  /** ISO 8601. */
  readonly predicted_at: string;
}

export interface ShadowScorerOptions {
  readonly config: ShadowConfig;
  /** Scores with the shadow's version, `shadow.deadline_ms` and no bisection. */
  readonly scorer: Pick<Scorer, "score">;
  readonly width: number;
  readonly control: RolloutControl;
  readonly model: string;
  readonly idField: string;
  readonly log: Logger;
  /** Writes shadow records when `config.topic` is set. */
  readonly producer?: KafkaProducer | undefined;
  readonly now?: () => number;
}

/** P(class 1) for a binary model, the only probability otherwise: what a prediction's `score` is. */
export function scoreOf(score: Score): number {
  const p = score.probabilities;
  return p.length > 1 ? (p[1] ?? 0) : (p[0] ?? 0);
}

/** Copies rows `rows` (indices) of a row-major matrix of `width` columns into a new one. */
export function gatherRows(matrix: Float32Array, width: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!;
    out.set(matrix.subarray(r * width, (r + 1) * width), j * width);
  }
  return out;
}

export class ShadowScorer {
  readonly #options: ShadowScorerOptions;
  readonly #now: () => number;
  /** Calls in flight: a test (and `stop`) can wait for them to settle. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: ShadowScorerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Starts the shadow call for `shadowRows` of `rows`; returns at once. `primary` settles with
   * the primary's outcomes (by row) or undefined when the micro-batch failed (then nothing is
   * compared: its retry shadows again).
   */
  start(
    rows: Float32Array,
    shadowRows: Int32Array,
    subjects: RowSubjects,
    primary: Promise<readonly ScoreOutcome[] | undefined>,
  ): void {
    if (shadowRows.length === 0) return;
    const call = this.#call(gatherRows(rows, this.#options.width, shadowRows), shadowRows.length);
    const done = Promise.all([call, primary]).then(([shadow, outcomes]) => {
      if (shadow !== undefined && outcomes !== undefined) {
        this.#compare(shadowRows, shadow, outcomes, subjects);
      }
    });
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  /** Settles once every shadow call started so far has settled (at most its deadline). */
  async drain(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  /** The shadow's outcomes, or undefined when it failed or missed its deadline (counted). */
  async #call(rows: Float32Array, count: number): Promise<readonly ScoreOutcome[] | undefined> {
    const { config, scorer, control, log } = this.#options;
    const version = String(config.version);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), config.deadlineMs);
      timer.unref();
    });
    const startedAt = performance.now();
    try {
      const result = await Promise.race([scorer.score(rows, count), deadline]);
      if (result === "deadline") {
        control.metrics?.shadowCall(version, "deadline_exceeded");
        return undefined;
      }
      const failed = result.filter((outcome) => !outcome.ok).length;
      control.metrics?.shadowCall(version, failed === 0 ? "success" : "failure");
      return result;
    } catch (error) {
      // The gRPC deadline is the same as the timer's: a failure that late is the deadline.
      const late = performance.now() - startedAt >= config.deadlineMs * 0.95;
      const outcome: ShadowOutcome = late ? "deadline_exceeded" : "failure";
      control.metrics?.shadowCall(version, outcome);
      log.debug({ version, outcome }, `shadow version ${version}: ${errorMessage(error)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #compare(
    shadowRows: Int32Array,
    shadow: readonly ScoreOutcome[],
    primary: readonly ScoreOutcome[],
    subjects: RowSubjects,
  ): void {
    const { control, config, producer, model, idField } = this.#options;
    const records: OutputRecord[] = [];
    const predictedAt = new Date(this.#now()).toISOString();
    for (let j = 0; j < shadowRows.length; j++) {
      const row = shadowRows[j]!;
      const ours = shadow[j];
      const theirs = primary[row];
      if (ours?.ok !== true || theirs?.ok !== true) continue;
      const difference = scoreOf(ours.score) - scoreOf(theirs.score);
      const agree = ours.score.label === theirs.score.label;
      control.metrics?.shadowCompared(ours.score.modelVersion, agree, difference);
      if (config.topic === undefined) continue;
      const entity = subjects.entities[row]!;
      const value: ShadowRecord = {
        id: idOf(subjects.values[row], idField),
        entity,
        model,
        primary: {
          arm: theirs.score.arm,
          version: theirs.score.modelVersion,
          label: theirs.score.label,
          score: scoreOf(theirs.score),
        },
        shadow: {
          version: ours.score.modelVersion,
          label: ours.score.label,
          score: scoreOf(ours.score),
        },
        agree,
        score_difference: difference,
        predicted_at: predictedAt,
      };
      records.push({ topic: config.topic, key: entity, value: JSON.stringify(value), headers: {} });
    }
    if (records.length === 0 || producer === undefined) return;
    producer.send(records).catch((error: unknown) => {
      // Best effort, beside the output: never retried into the hot path.
      this.#options.log.warn(
        { topic: config.topic },
        `cannot write ${records.length} shadow records to ${config.topic}: ${errorMessage(error)}`,
      );
    });
  }
}

function idOf(value: unknown, idField: string): string | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const id = (value as Record<string, unknown>)[idField];
  if (typeof id === "string" && id.length > 0) return id;
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  return null;
}
