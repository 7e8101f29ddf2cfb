import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePrometheusText, sumSamples } from "./prometheus-text.js";

describe("parsePrometheusText", () => {
  it("reads samples, labels with escapes, special values and timestamps; skips comments", () => {
    const samples = parsePrometheusText(
      [
        "# HELP x_total a counter",
        "# TYPE x_total counter",
        'x_total{model="fraud",version="1"} 3',
        'x_total{model="a\\"b\\\\c\\nd",version="2",} 4 1700000000000',
        "up 1",
        'h_bucket{le="+Inf"} +Inf',
        "g Nan",
        "",
      ].join("\n"),
    );
    assert.deepEqual(samples.slice(0, 3), [
      { name: "x_total", labels: { model: "fraud", version: "1" }, value: 3 },
      { name: "x_total", labels: { model: 'a"b\\c\nd', version: "2" }, value: 4 },
      { name: "up", labels: {}, value: 1 },
    ]);
    assert.equal(samples[3]!.value, Infinity);
    assert.ok(Number.isNaN(samples[4]!.value));
    assert.equal(sumSamples(samples, "x_total"), 7);
    assert.equal(sumSamples(samples, "x_total", { version: "1" }), 3);
    assert.equal(sumSamples(samples, "missing_total"), 0);
  });

  it("names the line it cannot read", () => {
    assert.throws(
      () => parsePrometheusText('ok 1\nbad{model="x} 1'),
      /^Error: metrics line 2: expected a closing quote for label model, got "bad\{model=\\"x\} 1"$/,
    );
    assert.throws(() => parsePrometheusText("x abc"), /metrics line 1: expected a number/);
  });
});
