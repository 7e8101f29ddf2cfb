import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { parseRolloutConfig } from "../lifecycle/rollout-config.js";
import type { ScoreOutcome } from "../pipeline/scorer.js";
import { RolloutMetrics } from "../observability/rollout-metrics.js";
import type { HistogramSeries } from "../observability/event-histogram.js";
import { RolloutControl } from "./rollout-control.js";
import { RolloutScorer } from "./rollout-scorer.js";
import { ShadowScorer } from "./shadow-scorer.js";

const WIDTH = 2;

/** A scorer of version `version` whose score of a row is its first feature; counts its calls. */
function echoScorer(version: string) {
  const calls: number[] = [];
  return {
    calls,
    async score(rows: Float32Array, count: number): Promise<ScoreOutcome[]> {
      calls.push(count);
      await Promise.resolve();
      return Array.from({ length: count }, (_, i) => ({
        ok: true as const,
        score: {
          modelVersion: version,
          label: 0,
          probabilities: [1 - rows[i * WIDTH]!, rows[i * WIDTH]!],
        },
      }));
    },
  };
}

function batch(n: number) {
  const rows = new Float32Array(n * WIDTH);
  for (let i = 0; i < n; i++) rows[i * WIDTH] = (i % 10) / 10;
  const entities = Array.from({ length: n }, (_, i) => `user-${i}`);
  return {
    rows,
    subjects: { entities, values: entities.map(() => ({})) },
  };
}

function metrics(): RolloutMetrics {
  const series = { observe: () => {} } as unknown as HistogramSeries;
  return new RolloutMetrics(
    () => [],
    () => series,
  );
}

describe("RolloutScorer", () => {
  it("sends each arm's rows to its version in one call and tags every score with its arm", async () => {
    const config = parseRolloutConfig(
      {
        arms: [
          { name: "stable", version: 1, weight: 60 },
          { name: "canary", version: 2, weight: 40 },
        ],
      },
      "p",
    );
    const control = new RolloutControl(config, { pipeline: "p", model: "m", log: silentLogger });
    const one = echoScorer("1");
    const two = echoScorer("2");
    const scorer = new RolloutScorer(
      control,
      new Map([
        ["1", one],
        ["2", two],
      ]),
      WIDTH,
      undefined,
    );
    const { rows, subjects } = batch(200);
    const outcomes = await scorer.score(rows, 200, subjects);
    assert.equal(one.calls.length, 1);
    assert.equal(two.calls.length, 1);
    assert.equal(one.calls[0]! + two.calls[0]!, 200);
    outcomes.forEach((outcome, i) => {
      assert.ok(outcome.ok);
      const arm = control.router.armFor(`user-${i}`) === 0 ? "stable" : "canary";
      assert.equal(outcome.score.arm, arm);
      assert.equal(outcome.score.modelVersion, arm === "stable" ? "1" : "2");
      // Each row got its own score back, whichever sub-batch it went in.
      assert.ok(Math.abs(outcome.score.probabilities[1]! - (i % 10) / 10) < 1e-6);
    });
  });

  it("never waits for a shadow that does not answer, and counts it at its deadline", async () => {
    const config = parseRolloutConfig(
      {
        arms: [{ name: "stable", version: 1, weight: 100 }],
        shadow: { version: 3, share: 100, deadline_ms: 150 },
      },
      "p",
    );
    const control = new RolloutControl(config, { pipeline: "p", model: "m", log: silentLogger });
    control.metrics = metrics();
    const hanging = { score: () => new Promise<ScoreOutcome[]>(() => {}) };
    const shadow = new ShadowScorer({
      config: config.shadow!,
      scorer: hanging,
      width: WIDTH,
      control,
      model: "m",
      idField: "id",
      log: silentLogger,
    });
    const scorer = new RolloutScorer(control, new Map([["1", echoScorer("1")]]), WIDTH, shadow);
    const { rows, subjects } = batch(64);
    const startedAt = performance.now();
    const outcomes = await scorer.score(rows, 64, subjects);
    const primaryMs = performance.now() - startedAt;
    assert.ok(primaryMs < 50, `the primary took ${primaryMs.toFixed(1)} ms`);
    assert.ok(outcomes.every((outcome) => outcome.ok && outcome.score.modelVersion === "1"));
    assert.equal(control.metrics.shadowRequests.size, 0, "nothing counted before the deadline");
    await shadow.drain();
    const settledMs = performance.now() - startedAt;
    assert.ok(settledMs >= 140 && settledMs < 1_000, `the shadow settled after ${settledMs} ms`);
    assert.deepEqual([...control.metrics.shadowRequests], [["3\ndeadline_exceeded", 1]]);
    assert.equal(control.metrics.shadowPredictions.size, 0);
  });

  it("counts a failed canary call in the guard rails, rolls it back, and the retry goes to the primary", async () => {
    const config = parseRolloutConfig(
      {
        arms: [
          { name: "stable", version: 1, weight: 50 },
          { name: "canary", version: 2, weight: 50 },
        ],
        guard_rails: { arm: "canary", min_events: 20, error_rate: { max: 0.05 } },
      },
      "p",
    );
    const control = new RolloutControl(config, { pipeline: "p", model: "m", log: silentLogger });
    control.metrics = metrics();
    const one = echoScorer("1");
    const down = {
      score: () =>
        Promise.reject(new ConsumerError("inference_unavailable", "sidecar: version 2 not ready")),
    };
    const scorer = new RolloutScorer(
      control,
      new Map<string, { score: typeof one.score }>([
        ["1", one],
        ["2", down],
      ]),
      WIDTH,
      undefined,
    );
    const { rows, subjects } = batch(100);
    await assert.rejects(scorer.score(rows, 100, subjects), { code: "inference_unavailable" });
    assert.deepEqual(control.router.rolledBack, ["canary"]);
    assert.deepEqual([...control.metrics.rollbacks], [["canary\nerror_rate", 1]]);
    const retried = await scorer.score(rows, 100, subjects);
    assert.ok(
      retried.every((o) => o.ok && o.score.arm === "stable" && o.score.modelVersion === "1"),
    );
    // Latched: judged again, it is not rolled back (or counted) twice.
    await scorer.score(rows, 100, subjects);
    assert.deepEqual([...control.metrics.rollbacks], [["canary\nerror_rate", 1]]);
  });
});
