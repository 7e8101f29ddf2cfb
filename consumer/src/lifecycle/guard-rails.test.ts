import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "@sluice/testing";
import { GuardRails, type GuardRailLimits, type GuardRailsOptions } from "./guard-rails.js";
import { latencyBucket, latencyQuantile } from "./latency-buckets.js";

const LIMITS: GuardRailLimits = {
  minEvents: 1_000,
  z: 2.326,
  maxErrorRate: 0.02,
  maxErrorRateRatio: 3,
  latencyPercentile: 99,
  maxLatencyMs: 250,
  maxLatencyRatio: 2,
  maxScorePsi: 0.25,
  maxScoreKs: undefined,
};

function rails(limits: Partial<GuardRailLimits> = {}, options: Partial<GuardRailsOptions> = {}) {
  return new GuardRails({
    arm: "canary",
    against: "stable",
    window: { kind: "time", durationMs: 60_000, slices: 6 },
    limits: { ...LIMITS, ...limits },
    ...options,
  });
}

interface Traffic {
  errorRate?: number;
  latencyMs?: number;
  /** Scores are `base ** power` of uniform draws: a higher power pushes them towards 0. */
  power?: number;
}

/** Feeds both arms `batches` micro-batches of 100 events each, one per 100 ms from `start`. */
function feed(
  g: GuardRails,
  batches: number,
  canary: Traffic,
  primary: Traffic,
  start = 0,
  seed = 1,
) {
  const random = seededRandom(seed);
  for (let b = 0; b < batches; b++) {
    const now = start + b * 100;
    for (const [arm, traffic] of [
      ["canary", canary],
      ["stable", primary],
    ] as const) {
      let errors = 0;
      const scores: number[] = [];
      for (let i = 0; i < 100; i++) {
        if (random() < (traffic.errorRate ?? 0)) errors++;
        else scores.push(random() ** (traffic.power ?? 3));
      }
      g.observe(arm, { events: 100, errors, latencyMs: traffic.latencyMs ?? 20, scores }, now);
    }
  }
}

describe("latency buckets", () => {
  it("read a percentile within ±4.9 %", () => {
    const counts = new Float64Array(151);
    for (let ms = 1; ms <= 1_000; ms++) counts[latencyBucket(ms)]!++;
    for (const [q, exact] of [
      [0.5, 500],
      [0.9, 900],
      [0.99, 990],
    ] as const) {
      const read = latencyQuantile(counts, 0, q);
      assert.ok(Math.abs(read / exact - 1) < 0.05, `p${q * 100}: ${read} for ${exact}`);
    }
    assert.ok(Number.isNaN(latencyQuantile(new Float64Array(151), 0, 0.5)));
    assert.equal(latencyBucket(0), 0);
    assert.equal(latencyBucket(1e9), 150);
  });
});

describe("GuardRails", () => {
  it("judges nothing below the minimum sample", () => {
    const g = rails();
    feed(g, 5, { errorRate: 0.5 }, {});
    const verdict = g.evaluate(500);
    assert.equal(verdict.decision, "insufficient");
    assert.deepEqual(verdict.breaches, []);
    assert.equal(verdict.canary.events, 500);
  });

  it("passes a canary that behaves like the primary", () => {
    const g = rails();
    feed(g, 200, { errorRate: 0.005 }, { errorRate: 0.005 });
    const verdict = g.evaluate(20_000);
    assert.equal(verdict.decision, "pass", verdict.breaches.map((b) => b.message).join("; "));
    assert.ok(verdict.scorePsi < 0.05, `psi ${verdict.scorePsi}`);
    assert.equal(verdict.canary.events, 20_000);
  });

  it("rolls back on an error rate above the limit, and says so", () => {
    const g = rails({ maxErrorRateRatio: undefined });
    feed(g, 50, { errorRate: 0.06 }, { errorRate: 0.005 });
    const verdict = g.evaluate(5_000);
    assert.equal(verdict.decision, "rollback");
    assert.deepEqual(
      verdict.breaches.map((b) => b.check),
      ["error_rate"],
    );
    assert.match(
      verdict.breaches[0]!.message,
      /^error rate 0\.0\d+ \(\d+ of 5000\) above the limit 0\.02$/,
    );
  });

  it("does not roll back on an error rate above the limit by chance alone (z-test)", () => {
    // 2.5 % of 1000 against a 2 % limit: z ≈ 1.1, not significant at 99 %.
    const g = rails({ maxErrorRateRatio: undefined });
    g.observe("canary", { events: 1_000, errors: 25 }, 0);
    g.observe("stable", { events: 1_000, errors: 0 }, 0);
    assert.equal(g.evaluate(0).decision, "pass");
  });

  it("rolls back on an error rate many times the primary's", () => {
    const g = rails({ maxErrorRate: undefined });
    feed(g, 100, { errorRate: 0.015 }, { errorRate: 0.002 });
    const verdict = g.evaluate(10_000);
    assert.deepEqual(
      verdict.breaches.map((b) => b.check),
      ["error_rate_ratio"],
    );
  });

  it("rolls back on latency: above the limit and above the ratio", () => {
    const g = rails();
    feed(g, 20, { latencyMs: 400 }, { latencyMs: 30 });
    const verdict = g.evaluate(2_000);
    assert.deepEqual(
      verdict.breaches.map((b) => b.check),
      ["latency", "latency_ratio"],
    );
    assert.ok(Math.abs(verdict.canary.latencyMs / 400 - 1) < 0.05);
    assert.match(verdict.breaches[0]!.message, /^p99 latency [\d.]+ ms above the limit 250 ms$/);
  });

  it("rolls back when the canary's scores are distributed unlike the primary's (PSI, KS)", () => {
    const g = rails({ maxScoreKs: 0.2 });
    feed(g, 30, { power: 1 }, { power: 3 });
    const verdict = g.evaluate(3_000);
    assert.deepEqual(
      verdict.breaches.map((b) => b.check),
      ["score_psi", "score_ks"],
    );
    assert.ok(verdict.scorePsi > 0.25 && verdict.scoreKs > 0.2);
  });

  it("latches a rollback until reset, and forgets traffic older than the window", () => {
    const g = rails();
    feed(g, 20, { latencyMs: 400 }, {});
    assert.equal(g.evaluate(2_000).latched, false);
    const again = g.evaluate(2_100);
    assert.equal(again.decision, "rollback");
    assert.equal(again.latched, true);
    assert.equal(g.tripped?.decision, "rollback");
    g.reset();
    assert.equal(g.tripped, undefined);
    assert.equal(g.evaluate(2_100).decision, "insufficient");
    // A bad minute, then a good one: at its end only the good one is in the one-minute window.
    feed(g, 600, { latencyMs: 400 }, {}, 100_000);
    feed(g, 600, {}, {}, 160_000);
    const verdict = g.evaluate(219_950);
    assert.equal(verdict.decision, "pass");
    assert.equal(verdict.canary.events, 60_000);
  });

  it("ignores arms it does not compare, and refuses to compare an arm with itself", () => {
    const g = rails();
    g.observe("other", { events: 5_000, errors: 5_000 }, 0);
    assert.equal(g.evaluate(0).canary.events, 0);
    assert.throws(() => rails({}, { against: "canary" }), /both "canary"/);
  });
});
