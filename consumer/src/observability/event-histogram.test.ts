import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Histogram, Registry } from "prom-client";
import { EventHistogram } from "./event-histogram.js";

/** `h`, labelled by pipeline, with one bucket at 1, in a registry of its own. */
function oneBucket() {
  const registry = new Registry();
  const histogram = new EventHistogram({
    name: "h",
    help: "h",
    labelNames: ["pipeline"],
    buckets: [1],
    registers: [registry],
  });
  return { registry, histogram };
}

describe("EventHistogram", () => {
  it("renders exactly what a prom-client Histogram renders for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const options = {
      name: "h_seconds",
      help: "a histogram",
      labelNames: ["pipeline", "version"] as const,
      buckets: [0.1, 0.5, 1],
    };
    const histogram = new EventHistogram({ ...options, registers: [ours] });
    const reference = new Histogram({ ...options, registers: [theirs] });
    const values = [0, 0.1, 0.10001, 0.4, 0.5, 0.7, 1, 3, -2];
    for (const version of ["1", "2"]) {
      const series = histogram.series({ pipeline: "p", version });
      for (const value of values) {
        series.observe(value);
        reference.observe({ pipeline: "p", version }, value);
      }
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it("skips NaN instead of poisoning the sum", () => {
    const { histogram } = oneBucket();
    const series = histogram.series({ pipeline: "p" });
    series.observe(NaN);
    series.observe(2);
    assert.deepEqual([series.count, series.sum, [...series.counts]], [1, 2, [0, 1]]);
  });

  it("binds a label set once, and forgets it on remove", async () => {
    const { registry, histogram } = oneBucket();
    assert.equal(histogram.series({ pipeline: "p" }), histogram.series({ pipeline: "p" }));
    histogram.series({ pipeline: "p" }).observe(0.5);
    histogram.remove({ pipeline: "p" });
    assert.doesNotMatch(await registry.metrics(), /^h_count/m);
  });

  it("refuses buckets out of order, naming the metric", () => {
    assert.throws(
      () =>
        new EventHistogram({
          name: "h",
          help: "h",
          labelNames: [],
          buckets: [1, 0.5],
          registers: [],
        }),
      /^Error: h: expected ascending buckets, got 1, 0.5$/,
    );
  });
});
