import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { configProblem } from "@sluice/testing";
import type { DriftReport } from "./drift-monitor.js";
import type { EvaluationFigures } from "./online-evaluator.js";
import { RetrainingTrigger, parseRetrainingConfig } from "./retraining-trigger.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

function drift(psi: Record<string, number>, judged = true, scorePsi = 0.01): DriftReport {
  return {
    at: 0,
    window: { events: 10_000, from: 0, to: 0, describe: "the last 10000 events (10 slices)" },
    judged,
    warmupRemaining: 0,
    features: Object.entries(psi).map(([subject, value]) => ({
      subject,
      kind: "feature",
      psi: value,
      state: value >= 0.25 ? "major" : value >= 0.1 ? "moderate" : "stable",
      missing: 0,
    })),
    score: {
      subject: "score",
      kind: "score",
      psi: scorePsi,
      state: "stable",
      missing: 0,
      ks: { value: 0.03, bound: 0.01 },
      wasserstein: { value: 0.002, bound: 0.001 },
    },
    changes: [],
  };
}

function evaluation(rocAuc: number, labels = 1_000): EvaluationFigures {
  return {
    version: "2",
    arm: "canary",
    window: { events: labels, from: 0, to: 0, describe: "the last 10000 events (10 slices)" },
    labels,
    positives: 20,
    threshold: 0.5,
    truePositives: 10,
    falsePositives: 2,
    falseNegatives: 10,
    trueNegatives: labels - 22,
    precision: 10 / 12,
    recall: 0.5,
    rocAuc,
    rocAucBound: 0.0005,
    logLoss: 0.05,
    brier: 0.01,
    calibration: [],
    ece: 0.01,
  };
}

function trigger(yaml: unknown) {
  return new RetrainingTrigger({ model: "fraud", version: "2", ...parseRetrainingConfig(yaml) });
}

describe("RetrainingTrigger", () => {
  it("fires once when feature drift holds for the configured time, naming the features and figures", () => {
    const t = trigger({
      conditions: [{ metric: "psi", subject: "any_feature", above: 0.25, for: "1h" }],
    });
    assert.equal(
      t.update(0, { drift: drift({ amount_log: 0.4, hour_sin: 0.3, channel_web: 0.01 }) }),
      undefined,
    );
    assert.equal(
      t.update(30 * MIN, { drift: drift({ amount_log: 0.5, hour_sin: 0.3, channel_web: 0.01 }) }),
      undefined,
    );
    const event = t.update(HOUR, {
      drift: drift({ amount_log: 0.45, hour_sin: 0.31, channel_web: 0.01 }),
    });
    assert.ok(event !== undefined);
    assert.equal(event.type, "retraining_requested");
    assert.deepEqual(
      event.reasons.map((r) => [r.condition, r.subjects, r.value, r.threshold, r.since, r.heldMs]),
      [["psi of any feature above 0.25 for 1h", ["amount_log", "hour_sin"], 0.45, 0.25, 0, HOUR]],
    );
    assert.deepEqual(
      event.drift?.features.map((f) => [f.name, f.state]),
      [
        ["amount_log", "major"],
        ["hour_sin", "major"],
        ["channel_web", "stable"],
      ],
    );
    assert.equal(event.drift?.score?.ks, 0.03);
    // Debounced: the condition still holds, but the next event waits for the cooldown (24 h).
    assert.equal(t.update(2 * HOUR, { drift: drift({ amount_log: 0.45 }) }), undefined);
    assert.equal(t.update(24 * HOUR + HOUR - 1, { drift: drift({ amount_log: 0.45 }) }), undefined);
    assert.ok(t.update(25 * HOUR, { drift: drift({ amount_log: 0.45 }) }) !== undefined);
  });

  it("starts over when the condition stops holding, or when the figures cannot tell", () => {
    const t = trigger({
      conditions: [{ metric: "psi", subject: "amount_log", above: 0.25, for: "1h" }],
    });
    t.update(0, { drift: drift({ amount_log: 0.4 }) });
    t.update(50 * MIN, { drift: drift({ amount_log: 0.1 }) });
    assert.equal(t.update(HOUR, { drift: drift({ amount_log: 0.4 }) }), undefined);
    assert.equal(t.holding[0]!.since, HOUR);
    t.update(90 * MIN, { drift: drift({ amount_log: 0.4 }, false) }); // not judged: no evidence
    assert.equal(t.holding[0]!.since, undefined);
    // An update with evaluation figures only leaves a drift condition alone.
    t.update(100 * MIN, { drift: drift({ amount_log: 0.4 }) });
    t.update(130 * MIN, { evaluation: evaluation(0.99) });
    assert.equal(t.holding[0]!.since, 100 * MIN);
    assert.ok(t.update(160 * MIN, { drift: drift({ amount_log: 0.4 }) }) !== undefined);
  });

  it("fires on evaluated performance below a threshold, only with enough labels", () => {
    const t = trigger({
      cooldown: "6h",
      conditions: [{ metric: "roc_auc", below: 0.95, for: "2h", min_labels: 500 }],
    });
    t.update(0, { evaluation: evaluation(0.9, 100) });
    assert.equal(t.holding[0]!.since, undefined);
    t.update(HOUR, { evaluation: evaluation(0.9) });
    assert.equal(t.update(2 * HOUR, { evaluation: evaluation(0.91) }), undefined);
    const event = t.update(3 * HOUR, { evaluation: evaluation(0.92) });
    assert.ok(event !== undefined);
    assert.deepEqual(
      event.reasons.map((r) => [r.metric, r.value, r.heldMs]),
      [["roc_auc", 0.92, 2 * HOUR]],
    );
    assert.equal(event.evaluation?.labels, 1_000);
    assert.equal(event.drift, undefined);
  });

  it("names every condition that held in one event", () => {
    const t = trigger({
      conditions: [
        { metric: "psi", subject: "score", above: 0.2, for: "10m" },
        { metric: "ks", above: 0.02, for: "10m" },
        { metric: "wasserstein", above: 0.5, for: "10m" },
      ],
    });
    t.update(0, { drift: drift({}, true, 0.3) });
    const event = t.update(10 * MIN, { drift: drift({}, true, 0.3) });
    assert.deepEqual(
      event?.reasons.map((r) => r.condition),
      ["psi of score above 0.2 for 10m", "ks of score above 0.02 for 10m"],
    );
  });

  it("validates the retraining: section with paths", () => {
    const problem = (value: unknown): string => configProblem(() => parseRetrainingConfig(value));
    assert.equal(
      problem({ conditions: [{ metric: "psi", subject: "score", for: "1h" }] }),
      "pipeline.retraining.conditions[0]: expected either above or below (a threshold), got neither",
    );
    assert.equal(
      problem({ conditions: [{ metric: "psi", above: 0.2, for: "1h" }] }),
      'pipeline.retraining.conditions[0].subject: expected a feature name, "score" or "any_feature" for psi, got nothing',
    );
    assert.match(
      problem({ conditions: [{ metric: "auc", above: 0.2, for: "soon" }] }),
      /conditions\[0\]\.metric: expected one of "psi", .*, got "auc"\npipeline\.retraining\.conditions\[0\]\.for: expected a duration like "10m", got "soon"/,
    );
    assert.equal(
      parseRetrainingConfig({ conditions: [{ metric: "ks", above: 0.1, for: "1h" }] }).cooldownMs,
      24 * HOUR,
    );
  });
});
