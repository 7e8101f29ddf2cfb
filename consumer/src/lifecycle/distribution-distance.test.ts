import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "@sluice/testing";
import {
  binIndex,
  ksFromBins,
  populationStabilityIndex,
  wassersteinFromBins,
} from "./distribution-distance.js";

describe("binIndex", () => {
  it("puts a value in the right-closed bin: ≤ e[0] → 0, (e[i-1], e[i]] → i, > e[k-1] → k", () => {
    const edges = [0, 1, 2];
    assert.deepEqual(
      [-5, 0, 0.5, 1, 1.5, 2, 9].map((v) => binIndex(edges, v)),
      [0, 0, 1, 1, 2, 2, 3],
    );
    assert.equal(binIndex([], 3), 0);
    assert.equal(binIndex(edges, Number.NaN), -1);
    assert.equal(binIndex(edges, Number.POSITIVE_INFINITY), 3);
  });
});

describe("populationStabilityIndex", () => {
  it("is Σ (a − e) ln(a / e) over the bins' shares", () => {
    const reference = [0.25, 0.25, 0.25, 0.25];
    const counts = [40, 30, 20, 10];
    let expected = 0;
    counts.forEach((c, i) => {
      const a = c / 100;
      expected += (a - reference[i]!) * Math.log(a / reference[i]!);
    });
    assert.ok(Math.abs(populationStabilityIndex(reference, counts) - expected) < 1e-15);
    assert.equal(populationStabilityIndex(reference, [5, 5, 5, 5]), 0);
    assert.equal(populationStabilityIndex(reference, [0, 0, 0, 0]), 0);
  });

  it("floors an empty bin's share at epsilon and reads counts from an offset", () => {
    const psi = populationStabilityIndex([0.5, 0.5], [9, 9, 0, 10], 2);
    const expected = (1e-4 - 0.5) * Math.log(1e-4 / 0.5) + (1 - 0.5) * Math.log(1 / 0.5);
    assert.ok(Math.abs(psi - expected) < 1e-12);
  });
});

describe("ksFromBins and wassersteinFromBins", () => {
  // Reference: uniform on [0, 1] in 100 equal bins. Live: x² of uniform draws, whose CDF is √x:
  // KS = sup |√x − x| = 1/4 (at x = 1/4), W1 = ∫ (√x − x) dx = 1/6.
  const edges = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
  const reference = new Array<number>(100).fill(0.01);
  const random = seededRandom(11);
  const counts = new Array<number>(100).fill(0);
  const n = 400_000;
  for (let i = 0; i < n; i++) counts[binIndex(edges, random() ** 2)]!++;

  it("reads KS at the bin edges, within the heaviest bin's share of the exact value", () => {
    const ks = ksFromBins(reference, counts);
    // Sampling adds about 1/√n ≈ 0.0016 on top of the binning bound.
    assert.ok(ks.value <= 0.25 + 0.005, `${ks.value}`);
    assert.ok(ks.value + ks.bound >= 0.25 - 0.005, `${ks.value} + ${ks.bound}`);
    assert.ok(Math.abs(ks.value - 0.25) < 0.01, `${ks.value}`);
    assert.ok(ks.bound >= 0.1 - 0.01, "the live distribution's first bin holds √0.01 = 10 %");
  });

  it("integrates |F_live − F_ref| with values spread evenly in a bin, within its bound", () => {
    const w = wassersteinFromBins(edges, reference, counts, [0, 1]);
    assert.ok(Math.abs(w.value - 1 / 6) < 0.003, `${w.value}`);
    assert.ok(Math.abs(w.value - 1 / 6) <= w.bound, `bound ${w.bound}`);
  });

  it("is 0 for the reference itself and for nothing counted", () => {
    const same = reference.map((p) => p * 1_000);
    assert.ok(ksFromBins(reference, same).value < 1e-12);
    assert.ok(wassersteinFromBins(edges, reference, same, [0, 1]).value < 1e-12);
    assert.deepEqual(ksFromBins(reference, new Array(100).fill(0)), { value: 0, bound: 0 });
  });

  it("measures a shift of a point mass exactly: W1 of δ(0.2) against δ(0.7) is 0.5", () => {
    // Two bins around each point, so the mass is exactly in one bin: [0.15, 0.25] and [0.65, 0.75].
    const e = [0.15, 0.25, 0.65, 0.75];
    const ref = [0, 1, 0, 0, 0];
    const live = [0, 0, 0, 7, 0];
    const w = wassersteinFromBins(e, ref, live, [0, 1]);
    assert.ok(Math.abs(w.value - 0.5) < 1e-12, `${w.value}`);
    assert.equal(ksFromBins(ref, live).value, 1);
  });
});
