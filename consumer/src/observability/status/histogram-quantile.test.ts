import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bucketDifference, histogramQuantile } from "./histogram-quantile.js";

const approx = (actual: number | undefined, expected: number) =>
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) < 1e-9,
    `expected ${expected}, got ${actual}`,
  );

describe("histogramQuantile", () => {
  // 10 observations in (0, 1], 10 in (1, 2], 20 in (2, 4], none above.
  const buckets = [
    { le: 1, count: 10 },
    { le: 2, count: 20 },
    { le: 4, count: 40 },
    { le: Infinity, count: 40 },
  ];

  it("interpolates linearly inside the bucket the rank falls in, the first from 0", () => {
    approx(histogramQuantile(0.25, buckets), 1);
    approx(histogramQuantile(0.5, buckets), 2);
    approx(histogramQuantile(0.75, buckets), 3);
    approx(histogramQuantile(0.1, buckets), 0.4);
    approx(histogramQuantile(1, buckets), 4);
  });

  it("skips empty buckets and answers a rank in +Inf with the highest finite bound", () => {
    const tail = [
      { le: 0.1, count: 0 },
      { le: 0.5, count: 2 },
      { le: 1, count: 2 },
      { le: Infinity, count: 4 },
    ];
    approx(histogramQuantile(0.25, tail), 0.3);
    approx(histogramQuantile(0.99, tail), 1);
  });

  it("agrees with the exact quantile within a bucket's width on a known distribution", () => {
    // 1,000 values evenly spread over [0, 10): the exact q quantile is 10q.
    const bounds = [0.5, 1, 2, 3, 5, 7.5, 10];
    const values = Array.from({ length: 1000 }, (_, i) => i / 100);
    const cumulative = [...bounds, Infinity].map((le) => ({
      le,
      count: values.filter((v) => v <= le).length,
    }));
    for (const q of [0.5, 0.95, 0.99]) {
      const estimate = histogramQuantile(q, cumulative)!;
      assert.ok(Math.abs(estimate - 10 * q) <= 0.05, `q=${q}: ${estimate} vs ${10 * q}`);
    }
  });

  it("has no answer without observations, and refuses a quantile outside 0–1", () => {
    assert.equal(histogramQuantile(0.5, []), undefined);
    assert.equal(histogramQuantile(0.5, [{ le: Infinity, count: 0 }]), undefined);
    assert.throws(() => histogramQuantile(1.5, buckets), /quantile: expected 0 to 1, got 1.5/);
    assert.throws(() => histogramQuantile(Number.NaN, buckets), /got NaN/);
  });
});

describe("bucketDifference", () => {
  it("leaves the observations made between two readings", () => {
    const earlier = [
      { le: 1, count: 3 },
      { le: Infinity, count: 5 },
    ];
    const later = [
      { le: 1, count: 4 },
      { le: Infinity, count: 9 },
    ];
    assert.deepEqual(bucketDifference(later, earlier), [
      { le: 1, count: 1 },
      { le: Infinity, count: 4 },
    ]);
    // A series first seen in the later reading: all of it is new.
    assert.deepEqual(bucketDifference(later, undefined), later);
  });
});
