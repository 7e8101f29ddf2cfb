/**
 * Scores a micro-batch under a rollout: the router (`RolloutControl.router`, read once per
 * micro-batch) sends each row to an arm by its entity key (and segment), the rows of each arm go
 * to its version in ONE ModelInfer per arm, all arms concurrently, and each score says which arm
 * produced it. With a shadow, one more call is started beside them and never awaited.
 *
 * A failed arm call fails the micro-batch as a single call would (a retryable error retries it,
 * the rest as `Scorer` does), after the guard rails have counted it: a canary that breaks its
 * limits is rolled back before the retry, which then goes to the primary. Nothing is lost and
 * nothing is published twice: a micro-batch's records are made only once all its calls are in.
 */
import { segmentOf } from "../lifecycle/rollout-router.js";
import type { RouteGroup } from "../lifecycle/rollout-router.js";
import type { BatchScorer } from "../pipeline/micro-batch.js";
import type { RowSubjects } from "../pipeline/micro-batch-stages.js";
import type { ScoreOutcome, Scorer } from "../pipeline/scorer.js";
import type { RolloutControl } from "./rollout-control.js";
import { gatherRows, scoreOf, type ShadowScorer } from "./shadow-scorer.js";

export class RolloutScorer implements BatchScorer {
  readonly #control: RolloutControl;
  /** By `String(arm.version)`: a scorer bound to that version. */
  readonly #scorers: ReadonlyMap<string, Pick<Scorer, "score">>;
  readonly #width: number;
  readonly #shadow: ShadowScorer | undefined;

  constructor(
    control: RolloutControl,
    scorers: ReadonlyMap<string, Pick<Scorer, "score">>,
    width: number,
    shadow: ShadowScorer | undefined,
  ) {
    this.#control = control;
    this.#scorers = scorers;
    this.#width = width;
    this.#shadow = shadow;
  }

  async score(rows: Float32Array, count: number, subjects: RowSubjects): Promise<ScoreOutcome[]> {
    const outcomes = new Array<ScoreOutcome>(count);
    if (count === 0) return outcomes;
    const router = this.#control.router;
    const field = router.config.segments?.field;
    const segments =
      field === undefined ? undefined : subjects.values.map((value) => segmentOf(value, field));
    const plan = router.plan(subjects.entities, segments);

    let settle!: (outcomes: readonly ScoreOutcome[] | undefined) => void;
    if (this.#shadow !== undefined) {
      const primary = new Promise<readonly ScoreOutcome[] | undefined>((r) => (settle = r));
      this.#shadow.start(rows, plan.shadowRows, subjects, primary);
    }
    const calls = await Promise.allSettled(
      plan.groups.map((group) => this.#scoreGroup(group, rows, count, outcomes)),
    );
    this.#control.evaluate();
    const failed = calls.find((call) => call.status === "rejected");
    if (failed !== undefined) {
      settle?.(undefined);
      throw failed.reason;
    }
    settle?.(outcomes);
    return outcomes;
  }

  async #scoreGroup(
    group: RouteGroup,
    rows: Float32Array,
    count: number,
    outcomes: ScoreOutcome[],
  ): Promise<void> {
    const scorer = this.#scorers.get(String(group.version));
    if (scorer === undefined) {
      throw new RangeError(
        `rollout: arm "${group.name}" has no scorer for version ${group.version}`,
      );
    }
    const n = group.rows.length;
    // One arm takes the whole batch (the usual case between ramps): no copy.
    const input = n === count ? rows : gatherRows(rows, this.#width, group.rows);
    const startedAt = performance.now();
    let results: ScoreOutcome[];
    try {
      results = await scorer.score(input, n);
    } catch (error) {
      this.#control.observe(group.name, {
        events: n,
        errors: n,
        latencyMs: performance.now() - startedAt,
      });
      throw error;
    }
    const latencyMs = performance.now() - startedAt;
    const scores: number[] = [];
    let errors = 0;
    for (let j = 0; j < n; j++) {
      const outcome = results[j]!;
      const row = group.rows[j]!;
      if (outcome.ok) {
        scores.push(scoreOf(outcome.score));
        outcomes[row] = { ok: true, score: { ...outcome.score, arm: group.name } };
      } else {
        errors++;
        outcomes[row] = outcome;
      }
    }
    this.#control.observe(group.name, { events: n, errors, latencyMs, scores });
  }
}
