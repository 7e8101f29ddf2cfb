import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { normal, seededRandom } from "@sluice/testing";
import { OnlineEvaluator, type LabelledPrediction } from "./online-evaluator.js";

/** A fraud-like stream: 3 % positives, scores sigmoid(N(1.5, 1.5)) for them, sigmoid(N(−4, 1.5)) for the rest. */
function stream(n: number, seed: number, version = "1", arm = "stable"): LabelledPrediction[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const label = random() < 0.03 ? 1 : 0;
    const logit = (label === 1 ? 1.5 : -4) + 1.5 * normal(random);
    return { score: Math.fround(1 / (1 + Math.exp(-logit))), label, version, arm };
  });
}

/** AUC by definition: over all positive-negative pairs, 1 if ordered, ½ if tied. */
function exactAuc(pairs: readonly LabelledPrediction[]): number {
  const sorted = [...pairs].sort((a, b) => a.score - b.score);
  let negativesBelow = 0;
  let sum = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    let pos = 0;
    let neg = 0;
    while (j < sorted.length && sorted[j]!.score === sorted[i]!.score) {
      if (sorted[j]!.label === 1) pos++;
      else neg++;
      j++;
    }
    sum += pos * negativesBelow + (pos * neg) / 2;
    negativesBelow += neg;
    i = j;
  }
  const positives = pairs.filter((p) => p.label === 1).length;
  return sum / (positives * (pairs.length - positives));
}

describe("OnlineEvaluator", () => {
  const pairs = stream(20_000, 21);
  const evaluator = new OnlineEvaluator({ window: { kind: "events", events: 20_000, slices: 4 } });
  evaluator.observe(pairs, 1_000);
  const figures = evaluator.figures("1", "stable", 1_000)!;

  it("counts precision and recall at the threshold exactly", () => {
    const tp = pairs.filter((p) => p.label === 1 && p.score >= 0.5).length;
    const fp = pairs.filter((p) => p.label === 0 && p.score >= 0.5).length;
    const fn = pairs.filter((p) => p.label === 1 && p.score < 0.5).length;
    assert.equal(figures.labels, 20_000);
    assert.equal(figures.truePositives, tp);
    assert.equal(figures.precision, tp / (tp + fp));
    assert.equal(figures.recall, tp / (tp + fn));
    assert.ok(figures.positives > 450 && figures.positives < 750, `${figures.positives} positives`);
  });

  it("approximates ROC AUC within its reported bound of the exact value", () => {
    const exact = exactAuc(pairs);
    assert.ok(
      Math.abs(figures.rocAuc - exact) <= figures.rocAucBound,
      `${figures.rocAuc} vs ${exact} ± ${figures.rocAucBound}`,
    );
    assert.ok(figures.rocAucBound < 0.002, `bound ${figures.rocAucBound}`);
    assert.ok(exact > 0.95 && exact < 0.999, `the stream is a realistic classifier: AUC ${exact}`);
  });

  it("computes log loss, the Brier score and calibration as their definitions", () => {
    let logLoss = 0;
    let brier = 0;
    for (const { score, label } of pairs) {
      const p = Math.min(Math.max(score, 1e-15), 1 - 1e-15);
      logLoss -= label === 1 ? Math.log(p) : Math.log(1 - p);
      brier += (score - label) ** 2;
    }
    assert.ok(Math.abs(figures.logLoss - logLoss / pairs.length) < 1e-12);
    assert.ok(Math.abs(figures.brier - brier / pairs.length) < 1e-12);
    let ece = 0;
    figures.calibration.forEach((bin, i) => {
      const inBin = pairs.filter((p) => Math.min(Math.floor(p.score * 10), 9) === i);
      assert.equal(bin.count, inBin.length);
      if (inBin.length === 0) return;
      const mean = inBin.reduce((s, p) => s + p.score, 0) / inBin.length;
      const rate = inBin.reduce((s, p) => s + p.label, 0) / inBin.length;
      assert.ok(Math.abs(bin.meanScore - mean) < 1e-12);
      assert.ok(Math.abs(bin.observedRate - rate) < 1e-12);
      ece += (inBin.length / pairs.length) * Math.abs(mean - rate);
    });
    assert.ok(Math.abs(figures.ece - ece) < 1e-12);
  });

  it("keeps versions and arms apart, each with its own threshold", () => {
    const e = new OnlineEvaluator({ thresholds: { "2": 0.2 } });
    e.observe([...stream(1_000, 1, "1", "stable"), ...stream(1_000, 2, "2", "canary")], 0);
    const byKey = e.snapshot(0).map((f) => [f.version, f.arm, f.labels, f.threshold]);
    assert.deepEqual(byKey, [
      ["1", "stable", 1_000, 0.5],
      ["2", "canary", 1_000, 0.2],
    ]);
    assert.equal(e.figures("1", "canary", 0), undefined);
  });

  it("slides: a window by count forgets the oldest labels", () => {
    const e = new OnlineEvaluator({ window: { kind: "events", events: 1_000, slices: 10 } });
    e.observe(stream(1_000, 3), 0);
    // All wrong: positives scored 0.01, negatives 0.99.
    const wrong = Array.from({ length: 1_000 }, (_, i): LabelledPrediction => {
      const label = i % 2;
      return { score: label === 1 ? 0.01 : 0.99, label, version: "1", arm: "stable" };
    });
    e.observe(wrong, 1);
    const f = e.figures("1", "stable", 1)!;
    assert.equal(f.labels, 1_000);
    assert.equal(f.rocAuc, 0);
    assert.equal(f.recall, 0);
    assert.equal(f.rocAucBound, 0);
  });

  it("slides: a window by time forgets labels joined before it", () => {
    const e = new OnlineEvaluator({ window: { kind: "time", durationMs: 60_000, slices: 6 } });
    e.observe(stream(500, 4), 0);
    e.observe(stream(300, 5), 55_000);
    assert.equal(e.figures("1", "stable", 59_000)!.labels, 800);
    assert.equal(e.figures("1", "stable", 61_000)!.labels, 300);
  });

  it("skips labels other than 0 and 1 and scores outside [0, 1], and reports NaN where a figure is undefined", () => {
    const e = new OnlineEvaluator();
    const counted = e.observe(
      [
        { score: 0.2, label: 2, version: "1", arm: "" },
        { score: Number.NaN, label: 1, version: "1", arm: "" },
        { score: 1.5, label: 0, version: "1", arm: "" },
        { score: 0.2, label: 0, version: "1", arm: "" },
      ],
      0,
    );
    assert.equal(counted, 1);
    const f = e.figures("1", "", 0)!;
    assert.ok(Number.isNaN(f.precision) && Number.isNaN(f.recall) && Number.isNaN(f.rocAuc));
    assert.equal(f.logLoss, -Math.log(0.8));
  });

  it("bins scores evenly in logit, with the extremes in end bins", () => {
    const e = new OnlineEvaluator();
    assert.equal(e.aucBin(0), 0);
    assert.equal(e.aucBin(1e-6), 0); // logit −13.8
    assert.equal(e.aucBin(0.5), 200);
    assert.equal(e.aucBin(0.51), 201);
    assert.equal(e.aucBin(1), 401);
    assert.throws(() => new OnlineEvaluator({ aucBins: 0 }), /aucBins/);
  });
});
