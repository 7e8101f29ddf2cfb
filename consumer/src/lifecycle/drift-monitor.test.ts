import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { normal, normalCdf, seededRandom } from "@sluice/testing";
import { DriftMonitor, nextDriftState, type DriftMonitorOptions } from "./drift-monitor.js";
import type { ReferenceDistributions } from "./reference-distribution.js";

/** The deciles of the standard normal: edges whose bins each hold exactly 10 %. */
const NORMAL_DECILES = [
  -1.2815515655446004, -0.8416212335729143, -0.5244005127080407, -0.2533471031357997, 0,
  0.2533471031357997, 0.5244005127080407, 0.8416212335729143, 1.2815515655446004,
];
const PERCENTILES = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);

/** Feature `x` ~ N(0, 1) in deciles; the score ~ U(0, 1) in deciles and percentiles. */
const REFERENCE: ReferenceDistributions = {
  source: "file",
  model: "m",
  version: 1,
  rows: 1_000_000,
  features: [
    { name: "x", index: 0, edges: NORMAL_DECILES, proportions: new Array(10).fill(0.1) },
    { name: "absent", index: 2, edges: [0], proportions: [0.5, 0.5] },
  ],
  score: {
    output: "probabilities",
    classIndex: 1,
    domain: [0, 1],
    edges: PERCENTILES.filter((_, i) => i % 10 === 9),
    proportions: new Array(10).fill(0.1),
    cdf: { edges: PERCENTILES, proportions: new Array(100).fill(0.01) },
  },
  evaluation: undefined,
};

/** The exact PSI of live bin shares `a` against reference shares `e`. */
function psiOf(a: readonly number[], e: readonly number[]): number {
  return a.reduce((sum, ai, i) => sum + (ai - e[i]!) * Math.log(ai / e[i]!), 0);
}

/**
 * How far PSI measured on n draws may be from the exact value: 4 standard errors (delta method:
 * the variance of Σ âᵢ·gᵢ with gᵢ = ln(aᵢ/eᵢ) + 1 − eᵢ/aᵢ) plus three times the no-drift noise
 * (k − 1)/n, which the linear term misses when there is no drift.
 */
function psiTolerance(a: readonly number[], e: readonly number[], n: number): number {
  const g = a.map((ai, i) => Math.log(ai / e[i]!) + 1 - e[i]! / ai);
  const mean = a.reduce((sum, ai, i) => sum + ai * g[i]!, 0);
  const second = a.reduce((sum, ai, i) => sum + ai * g[i]! ** 2, 0);
  return 4 * Math.sqrt((second - mean ** 2) / n) + (3 * (a.length - 1)) / n;
}

/** The bin shares of N(shift, 1) in the standard normal's deciles, from Φ. */
function normalShares(shift: number): number[] {
  const cuts = [Number.NEGATIVE_INFINITY, ...NORMAL_DECILES, Number.POSITIVE_INFINITY];
  return Array.from(
    { length: 10 },
    (_, i) => normalCdf(cuts[i + 1]! - shift) - normalCdf(cuts[i]! - shift),
  );
}

const TENTHS: readonly number[] = new Array<number>(10).fill(0.1);

/** PSI of N(shift, 1) against N(0, 1) in the normal's decile bins, from Φ: the exact value. */
function exactNormalPsi(shift: number): number {
  return psiOf(normalShares(shift), TENTHS);
}

function monitor(options: Partial<DriftMonitorOptions> = {}) {
  return new DriftMonitor({ columns: ["x", "y"], reference: REFERENCE, ...options });
}

/** `n` rows [x ~ N(shift, 1), y = 0] and scores u^power, in micro-batches of 100 from clock `start`. */
function feed(
  m: DriftMonitor,
  n: number,
  shift: number,
  options: { power?: number; start?: number; seed?: number } = {},
) {
  const random = seededRandom(options.seed ?? 3);
  const values = new Float32Array(200);
  const scores = new Float32Array(100);
  for (let done = 0; done < n; done += 100) {
    for (let i = 0; i < 100; i++) {
      values[2 * i] = normal(random) + shift;
      scores[i] = random() ** (options.power ?? 1);
    }
    m.observe(values, scores, (options.start ?? 0) + done);
  }
}

describe("DriftMonitor", () => {
  it("computes PSI exactly as Σ (a − e) ln(a / e) over the window's counts", () => {
    const m = monitor({ minEvents: 1 });
    // 10, 20, …, 100 values in the ten bins: a value just inside each bin.
    const values: number[] = [];
    const cuts = [-2, ...NORMAL_DECILES];
    cuts.forEach((cut, bin) => {
      for (let k = 0; k < 10 * (bin + 1); k++) values.push(cut + 0.01, 0);
    });
    m.observe(values, undefined, 0);
    const psi = m.evaluate(0).features.find((f) => f.subject === "x")!.psi;
    let expected = 0;
    for (let bin = 0; bin < 10; bin++) {
      const a = (10 * (bin + 1)) / 550;
      expected += (a - 0.1) * Math.log(a / 0.1);
    }
    assert.ok(Math.abs(psi - expected) < 1e-12, `${psi} vs ${expected}`);
  });

  it("equals the PSI computed from the normal CDF for shifted normal traffic", () => {
    for (const shift of [0, 0.3, 0.8]) {
      const m = monitor({ window: { kind: "events", events: 200_000, slices: 10 } });
      feed(m, 200_000, shift);
      const psi = m.evaluate(0).features[0]!.psi;
      const exact = exactNormalPsi(shift);
      const tolerance = psiTolerance(normalShares(shift), TENTHS, 200_000);
      assert.ok(
        Math.abs(psi - exact) < tolerance,
        `shift ${shift}: ${psi} vs exact ${exact} ± ${tolerance}`,
      );
    }
    assert.ok(exactNormalPsi(0.3) > 0.08 && exactNormalPsi(0.8) > 0.5, "the shifts span the bands");
  });

  it("measures the score's PSI, KS and Wasserstein against exact values (u² against uniform)", () => {
    const m = monitor({ window: { kind: "events", events: 100_000, slices: 10 } });
    feed(m, 100_000, 0, { power: 2 });
    const score = m.evaluate(0).score!;
    // CDF of u² is √s: KS = max(√s − s) = 1/4, W1 = ∫ (√s − s) ds = 1/6.
    assert.ok(Math.abs(score.ks!.value - 0.25) < 0.01, `KS ${score.ks!.value}`);
    assert.ok(Math.abs(score.wasserstein!.value - 1 / 6) < 0.003, `W1 ${score.wasserstein!.value}`);
    const shares = Array.from(
      { length: 10 },
      (_, i) => Math.sqrt((i + 1) / 10) - Math.sqrt(i / 10),
    );
    const exactPsi = psiOf(shares, TENTHS);
    const tolerance = psiTolerance(shares, TENTHS, 100_000);
    assert.ok(
      Math.abs(score.psi - exactPsi) < tolerance,
      `PSI ${score.psi} vs ${exactPsi} ± ${tolerance}`,
    );
    assert.equal(score.state, "major");
  });

  it("judges nothing before the minimum sample, then reports each change of state once", () => {
    const m = monitor({ minEvents: 1_000 });
    feed(m, 500, 1);
    const early = m.evaluate(500);
    assert.equal(early.judged, false);
    assert.equal(early.features[0]!.state, "insufficient");
    assert.deepEqual(early.changes, []);
    feed(m, 600, 1, { start: 500, seed: 4 });
    const later = m.evaluate(1_100);
    assert.equal(later.judged, true);
    assert.deepEqual(
      later.changes.map((c) => [c.subject, c.from, c.to]),
      [
        ["x", "insufficient", "major"],
        ["score", "insufficient", "stable"],
      ],
    );
    assert.equal(later.changes[0]!.window.events, 1_100);
    assert.deepEqual(m.evaluate(1_100).changes, []);
  });

  it("forgets old events: a count window slides on, and the state comes back down", () => {
    const m = monitor({ window: { kind: "events", events: 10_000, slices: 10 } });
    feed(m, 10_000, 1);
    assert.equal(m.evaluate(0).features[0]!.state, "major");
    feed(m, 10_000, 0, { seed: 9 });
    const report = m.evaluate(0);
    assert.equal(report.window.events, 10_000);
    assert.ok(report.features[0]!.psi < 0.01, `${report.features[0]!.psi}`);
    assert.deepEqual(
      report.changes.map((c) => [c.from, c.to]),
      [["major", "stable"]],
    );
  });

  it("forgets old events in a time window, and keeps its state while the window is too small to judge", () => {
    const m = monitor({ window: { kind: "time", durationMs: 60_000, slices: 6 } });
    feed(m, 5_000, 1);
    assert.equal(m.evaluate(4_900).features[0]!.state, "major");
    const empty = m.evaluate(70_000);
    assert.equal(empty.window.events, 0);
    assert.equal(empty.judged, false);
    assert.equal(empty.features[0]!.state, "major");
    assert.deepEqual(empty.changes, []);
  });

  it("moves down a band only below its edge by the hysteresis", () => {
    const bands = { moderate: 0.1, major: 0.25 };
    const h = 0.02;
    assert.equal(nextDriftState("insufficient", 0.05, bands, h), "stable");
    assert.equal(nextDriftState("stable", 0.1, bands, h), "moderate");
    assert.equal(nextDriftState("moderate", 0.09, bands, h), "moderate");
    assert.equal(nextDriftState("moderate", 0.079, bands, h), "stable");
    assert.equal(nextDriftState("major", 0.24, bands, h), "major");
    assert.equal(nextDriftState("major", 0.2, bands, h), "moderate");
    assert.equal(nextDriftState("major", 0.01, bands, h), "stable");
    assert.equal(nextDriftState("stable", 0.3, bands, h), "major");
  });

  it("holds a state through PSI hovering around a band edge", () => {
    // Shifts whose exact PSI straddles 0.1: ≈0.107 and ≈0.090.
    const up = 0.335;
    const near = 0.305;
    assert.ok(
      exactNormalPsi(up) > 0.1 && exactNormalPsi(near) < 0.1 && exactNormalPsi(near) > 0.08,
    );
    const m = monitor({ window: { kind: "events", events: 50_000, slices: 5 } });
    feed(m, 50_000, up);
    assert.equal(m.evaluate(0).features[0]!.state, "moderate");
    feed(m, 50_000, near, { seed: 5 });
    const report = m.evaluate(0);
    assert.ok(report.features[0]!.psi < 0.1, `${report.features[0]!.psi}`);
    assert.equal(report.features[0]!.state, "moderate");
  });

  it("counts NaN as missing, only the rows it is given, and names reference features it cannot see", () => {
    const m = monitor({ minEvents: 1 });
    m.observe([Number.NaN, 0, 5, 0, 5, 0], [0.5, 0.5, 0.5], 0, [0, 2]);
    const report = m.evaluate(0);
    assert.equal(report.window.events, 2);
    assert.equal(report.features[0]!.missing, 1);
    assert.deepEqual(m.unmonitored, ["absent"]);
    assert.deepEqual(
      report.features.map((f) => f.subject),
      ["x"],
    );
  });

  it("takes its reference from a warm-up window of live traffic when asked", () => {
    const m = new DriftMonitor({ columns: ["x", "y"], reference: { warmupEvents: 20_000 } });
    feed(m, 10_000, 0);
    const warming = m.evaluate(0);
    assert.equal(warming.warmupRemaining, 10_000);
    assert.equal(warming.judged, false);
    const reference = (): ReferenceDistributions | undefined => m.reference;
    assert.equal(reference(), undefined);
    feed(m, 10_000, 0, { seed: 6 });
    assert.equal(reference()?.source, "warmup");
    const x = reference()!.features.find((f) => f.name === "x")!;
    assert.equal(x.edges.length, 9);
    // The warm-up's deciles are close to the normal's.
    x.edges.forEach((edge, i) => assert.ok(Math.abs(edge - NORMAL_DECILES[i]!) < 0.05, `${edge}`));
    // y is always 0: one value, one bin.
    assert.deepEqual(reference()!.features.find((f) => f.name === "y")!.edges, []);
    feed(m, 10_000, 0, { seed: 7 });
    assert.equal(m.evaluate(0).features[0]!.state, "stable");
    feed(m, 10_000, 1, { seed: 8 });
    assert.equal(m.evaluate(0).features[0]!.state, "major");
  });

  it("refuses bands, hysteresis and warm-ups that make no sense", () => {
    assert.throws(() => monitor({ bands: { moderate: 0.3, major: 0.2 } }), /0 < moderate < major/);
    assert.throws(() => monitor({ hysteresis: 0.1 }), /hysteresis/);
    assert.throws(
      () => new DriftMonitor({ columns: ["x"], reference: { warmupEvents: 0 } }),
      /warm-up/,
    );
  });
});
