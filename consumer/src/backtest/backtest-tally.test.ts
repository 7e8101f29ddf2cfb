import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BacktestTally, summarize } from "./backtest-tally.js";

const v = (score: number, version = "2") => ({ score, version });

describe("BacktestTally", () => {
  test("counts predictions, dead letters with their first reason, and failed rows per version", () => {
    const tally = new BacktestTally(["canary", "1"], 0.5);
    tally.read(5);
    tally.scored([v(0.9), v(0.2, "1")], 1);
    tally.scored([v(0.1), undefined], 0);
    tally.scored([undefined, v(0.4, "1")], undefined);
    tally.deadLetter("inference_rejected", "row 3 rejected");
    tally.deadLetter("decode_error", "not JSON");
    tally.deadLetter("decode_error", "not JSON either");
    assert.deepEqual(tally.counts(), { read: 5, predictions: 2, deadLetters: 3 });
    const report = tally.report();
    assert.equal(report.read, 5);
    assert.equal(report.predictions, 2);
    assert.equal(report.deadLetters, 3);
    assert.deepEqual(report.deadLettersByCode, {
      inference_rejected: { count: 1, example: "row 3 rejected" },
      decode_error: { count: 2, example: "not JSON" },
    });
    assert.equal(report.labelled, 2);
    const [candidate, against] = report.versions;
    assert.deepEqual(
      [
        candidate?.role,
        candidate?.requested,
        candidate?.answered,
        candidate?.scored,
        candidate?.failed,
      ],
      ["candidate", "canary", ["2"], 2, 1],
    );
    assert.deepEqual([against?.scored, against?.failed], [2, 1]);
    // Only the event both scored is compared: 0.9 vs 0.2, different decisions.
    assert.equal(report.comparison?.compared, 1);
    assert.equal(report.comparison?.agreement, 0);
    assert.ok(Math.abs(report.comparison.meanAbsDifference - 0.7) < 1e-12);
  });

  test("evaluation per version against the labels", () => {
    const tally = new BacktestTally(["2"], 0.5);
    // Scores and labels: TP 0.9/1, FP 0.6/0, FN 0.3/1, TN 0.2/0 and 0.1/0.
    for (const [score, label] of [
      [0.9, 1],
      [0.6, 0],
      [0.3, 1],
      [0.2, 0],
      [0.1, 0],
    ] as const) {
      tally.scored([v(score)], label);
    }
    const evaluation = tally.report().versions[0]!.evaluation!;
    assert.equal(evaluation.labels, 5);
    assert.equal(evaluation.positives, 2);
    assert.equal(evaluation.precision, 0.5);
    assert.equal(evaluation.recall, 0.5);
    // Pairs ordered right: 0.9 above all three negatives, 0.3 above 0.2 and 0.1: 5 of 6.
    assert.ok(Math.abs(evaluation.rocAuc - 5 / 6) <= evaluation.rocAucBound + 1e-12);
    const logLoss =
      -(Math.log(0.9) + Math.log(1 - 0.6) + Math.log(0.3) + Math.log(1 - 0.2) + Math.log(1 - 0.1)) /
      5;
    assert.ok(Math.abs(evaluation.logLoss - logLoss) < 1e-12);
    assert.equal(tally.report().comparison, undefined);
  });

  test("without labels there is no evaluation; the same scores do not drift", () => {
    const tally = new BacktestTally(["2", "1"], 0.5);
    for (let i = 0; i < 200; i++) tally.scored([v(i / 200), v(i / 200, "1")], undefined);
    const report = tally.report();
    assert.equal(report.versions[0]!.evaluation, undefined);
    assert.equal(report.comparison?.agreement, 1);
    assert.equal(report.comparison?.meanAbsDifference, 0);
    assert.ok(report.comparison.psi < 1e-9);
    assert.equal(report.comparison?.ks, 0);
  });
});

describe("summarize", () => {
  test("percentiles as the smallest value reaching the share; NaN when empty", () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => (i + 1) / 100);
    const s = summarize(sorted, 0.5);
    assert.deepEqual(
      [s.count, s.min, s.p10, s.p50, s.p90, s.p99, s.max, s.flagged],
      [100, 0.01, 0.1, 0.5, 0.9, 0.99, 1, 0.51],
    );
    assert.ok(Math.abs(s.mean - 0.505) < 1e-12);
    assert.ok(Number.isNaN(summarize(new Float64Array(0), 0.5).mean));
  });
});
