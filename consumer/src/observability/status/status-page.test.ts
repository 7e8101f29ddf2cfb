import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { MetricsServer } from "@sluice/kit";
import { ConsumerMetrics } from "../consumer-metrics.js";
import type { StatusDocument } from "./status-history.js";

describe("the status page's routes, beside /metrics", () => {
  let server: MetricsServer;
  let base: string;

  before(async () => {
    const metrics = new ConsumerMetrics();
    metrics.forPipeline({
      pipeline: "fraud",
      model: "fraud",
      topics: { input: "tx", output: "out", deadLetter: "dlq", review: undefined },
    });
    server = await metrics.listen("127.0.0.1", 0, { intervalMs: 50 });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it("serves the page at / and /status, under a policy that runs only its own scripts", async () => {
    for (const path of ["/", "/status"]) {
      const response = await fetch(base + path);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      const html = await response.text();
      assert.match(html, /<script src="\/status\/uplot.js"/);
      assert.match(html, /<script src="\/status\/status.js"/);
    }
  });

  it("serves its script, styles and uPlot from the consumer itself", async () => {
    const expected: [string, RegExp, RegExp][] = [
      ["/status/status.js", /javascript/, /\/status\.json/],
      ["/status/status.css", /css/, /\.tile/],
      ["/status/uplot.js", /javascript/, /uPlot/],
      ["/status/uplot.css", /css/, /\.uplot/],
    ];
    for (const [path, type, body] of expected) {
      const response = await fetch(base + path);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type") ?? "", type, path);
      assert.match(await response.text(), body, path);
    }
  });

  it("answers /status.json with the sampled history, /metrics as before, 404 elsewhere", async () => {
    // Sampled every 50 ms here: wait for the second sample.
    let document: StatusDocument | undefined;
    for (let i = 0; i < 100 && (document?.pipelines[0]?.samples.length ?? 0) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const response = await fetch(`${base}/status.json`);
      assert.equal(response.headers.get("cache-control"), "no-store");
      document = (await response.json()) as StatusDocument;
    }
    assert.equal(document?.pipelines[0]?.name, "fraud");
    assert.equal(document?.pipelines[0]?.samples[1]?.eventsPerSecond, 0);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /sluice_consumer_events_total/);
    assert.equal((await fetch(`${base}/status.html`)).status, 404);
    assert.equal((await fetch(`${base}/`, { method: "POST" })).status, 404);
  });
});
