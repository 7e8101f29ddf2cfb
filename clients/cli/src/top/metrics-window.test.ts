import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePrometheusText } from "@sluice/kit";
import { histogramQuantile, MetricsWindow, type Scrape } from "./metrics-window.js";

function scrape(target: string, at: number, text: string): Scrape {
  return { target, at, samples: parsePrometheusText(text) };
}

const latency = (counts: [number, number, number, number], sum: number) => `
# TYPE l histogram
l_bucket{le="0.01",pipeline="p"} ${counts[0]}
l_bucket{le="0.1",pipeline="p"} ${counts[1]}
l_bucket{le="1",pipeline="p"} ${counts[2]}
l_bucket{le="+Inf",pipeline="p"} ${counts[3]}
l_sum{pipeline="p"} ${sum}
l_count{pipeline="p"} ${counts[3]}
`;

describe("histogramQuantile", () => {
  it("interpolates inside the bucket as PromQL does", () => {
    const buckets = [
      { le: 0.1, count: 10 },
      { le: 1, count: 30 },
      { le: Infinity, count: 40 },
    ];
    assert.equal(histogramQuantile(0.25, buckets), 0.1);
    assert.equal(histogramQuantile(0.5, buckets), 0.55);
    assert.equal(histogramQuantile(0.05, buckets), 0.02, "the first bucket starts at 0");
    assert.equal(histogramQuantile(0.99, buckets), 1, "+Inf answers the largest finite bound");
    assert.equal(
      histogramQuantile(0.5, [
        { le: 1, count: 0 },
        { le: Infinity, count: 0 },
      ]),
      undefined,
    );
  });
});

describe("MetricsWindow", () => {
  it("rates and quantiles over the window, summed over endpoints", () => {
    const before = [
      scrape("a", 0, `c_total{pipeline="p"} 100\n${latency([0, 0, 0, 0], 0)}`),
      scrape("b", 0, `c_total{pipeline="p"} 50\n`),
    ];
    const now = [
      scrape("a", 2_000, `c_total{pipeline="p"} 300\n${latency([10, 20, 20, 20], 1)}`),
      // b restarted: its counter went down and counts from zero.
      scrape("b", 2_000, `c_total{pipeline="p"} 10\n`),
    ];
    const w = new MetricsWindow(now, before);
    assert.equal(w.seconds, 2);
    assert.equal(w.increase("c_total"), 210);
    assert.equal(w.rate("c_total", { pipeline: "p" }), 105);
    assert.equal(w.quantile(0.5, "l", { pipeline: "p" }), 0.01);
    assert.ok(Math.abs(w.quantile(0.75, "l")! - 0.055) < 1e-12);
    assert.equal(w.mean("l"), 0.05);
    assert.equal(w.total("c_total"), 310);
  });

  it("uses totals on the first refresh, and has no rate yet", () => {
    const w = new MetricsWindow([scrape("a", 0, `c_total 5\n${latency([1, 2, 2, 2], 0.1)}`)]);
    assert.equal(w.rate("c_total"), undefined);
    assert.equal(w.quantile(0.5, "l"), 0.01);
    assert.equal(w.mean("l"), 0.05);
  });

  it("has nothing to say about a window without observations", () => {
    const text = latency([1, 2, 2, 2], 0.1);
    const w = new MetricsWindow([scrape("a", 1_000, text)], [scrape("a", 0, text)]);
    assert.equal(w.quantile(0.5, "l"), undefined);
    assert.equal(w.mean("l"), undefined);
    assert.equal(w.rate("l_count"), 0);
  });
});
