import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePrometheusText, sumSamples, type MetricSample } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { ConsumerMetrics } from "./consumer-metrics.js";
import type { PipelineIdentity } from "./pipeline-metrics.js";
import type { DeliveredBatch } from "./pipeline-observer.js";

const IDENTITY: PipelineIdentity = {
  pipeline: "fraud",
  model: "fraud",
  topics: { input: "tx", output: "predictions", deadLetter: "tx-dlq", review: "review" },
};
const NOW = 1_700_000_000_000;

function batch(patch: Partial<DeliveredBatch> = {}): DeliveredBatch {
  return {
    // Produced 20 ms, 80 ms and 3 s before the prediction was committed.
    records: [
      { timestamp: String(NOW - 20) },
      { timestamp: String(NOW - 80) },
      { timestamp: String(NOW - 3_000) },
    ],
    deadLetters: { decode_error: 1 },
    versions: new Map([
      ["1", { predictions: 2, reviews: 1, scores: [0.02, 0.97], confidences: [0.98, 0.55] }],
    ]),
    stages: { decode: 0.0001, features: 0.002, inference: 0.004, produce: 0.01, commit: 0.003 },
    ...patch,
  };
}

async function scrape(metrics: ConsumerMetrics): Promise<MetricSample[]> {
  return parsePrometheusText(await metrics.registry.metrics());
}

describe("ConsumerMetrics", () => {
  it("counts a delivered micro-batch: events, outputs by topic, predictions by version, dead letters by code", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    p.delivered(batch());
    p.delivered(batch({ versions: new Map(), deadLetters: {} }));
    const s = await scrape(metrics);
    const pipeline = { pipeline: "fraud" };
    assert.equal(sumSamples(s, "sluice_consumer_events_total", { ...pipeline, topic: "tx" }), 6);
    assert.equal(
      sumSamples(s, "sluice_consumer_predictions_total", {
        ...pipeline,
        model: "fraud",
        version: "1",
      }),
      2,
    );
    assert.equal(sumSamples(s, "sluice_consumer_reviews_total", { version: "1" }), 1);
    assert.equal(sumSamples(s, "sluice_consumer_dead_letters_total", { code: "decode_error" }), 1);
    for (const [topic, count] of [
      ["predictions", 2],
      ["review", 1],
      ["tx-dlq", 1],
    ] as const) {
      assert.equal(
        sumSamples(s, "sluice_consumer_records_produced_total", { topic }),
        count,
        topic,
      );
    }
    assert.equal(sumSamples(s, "sluice_consumer_micro_batch_size_count", pipeline), 2);
    assert.equal(sumSamples(s, "sluice_consumer_micro_batch_size_sum", pipeline), 6);
    assert.equal(sumSamples(s, "sluice_consumer_model_info", { version: "1" }), 1);
  });

  it("counts lookup misses by feature", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    p.delivered(batch());
    let s = await scrape(metrics);
    assert.equal(s.filter((x) => x.name === "sluice_consumer_lookup_misses_total").length, 0);
    p.delivered(batch({ lookupMisses: { country_mismatch: 2 } }));
    p.delivered(batch({ lookupMisses: { country_mismatch: 1, tier: 3 } }));
    s = await scrape(metrics);
    const misses = (feature: string) =>
      sumSamples(s, "sluice_consumer_lookup_misses_total", { pipeline: "fraud", feature });
    assert.deepEqual([misses("country_mismatch"), misses("tier")], [3, 3]);
  });

  it("observes every stage, and no commit when the produce step committed", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    p.delivered(batch());
    p.delivered(batch({ stages: { ...batch().stages, commit: undefined } }));
    const s = await scrape(metrics);
    const count = (stage: string) =>
      sumSamples(s, "sluice_consumer_stage_duration_seconds_count", { stage });
    assert.deepEqual(
      ["decode", "features", "inference", "produce", "commit"].map(count),
      [2, 2, 2, 2, 1],
    );
    assert.equal(
      sumSamples(s, "sluice_consumer_stage_duration_seconds_sum", { stage: "produce" }),
      0.02,
    );
  });

  it("measures end-to-end latency from each event's Kafka timestamp, and scores into buckets", async () => {
    const metrics = new ConsumerMetrics();
    metrics.forPipeline(IDENTITY, () => NOW).delivered(batch());
    const s = await scrape(metrics);
    const le = (name: string, bound: string, labels: Record<string, string> = {}) =>
      sumSamples(s, `${name}_bucket`, { le: bound, ...labels });
    const latency = "sluice_consumer_end_to_end_latency_seconds";
    assert.deepEqual(
      ["0.025", "0.05", "0.1", "2.5", "5", "+Inf"].map((bound) => le(latency, bound)),
      [1, 1, 2, 2, 3, 3],
    );
    assert.equal(sumSamples(s, `${latency}_sum`), 3.1);
    const score = "sluice_consumer_prediction_score";
    assert.deepEqual(
      ["0.01", "0.025", "0.95", "0.975"].map((bound) => le(score, bound, { version: "1" })),
      [0, 1, 1, 2],
    );
    const confidence = "sluice_consumer_prediction_confidence";
    assert.deepEqual(
      ["0.5", "0.55", "0.6", "0.99"].map((bound) => le(confidence, bound)),
      [0, 1, 1, 2],
    );
  });

  it("tracks lag per owned partition from the fetch's high watermark, forgetting partitions that moved", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    const lag = async (partition: string) =>
      sumSamples(await scrape(metrics), "sluice_consumer_lag", { topic: "tx", partition });
    p.assigned([
      { topic: "tx", partition: 0 },
      { topic: "tx", partition: 1 },
    ]);
    p.fetched("tx", 0, "100", "40");
    p.fetched("tx", 1, "10", "10");
    assert.equal(await lag("0"), 60);
    p.resolved("tx", 0, "100", "63");
    assert.equal(await lag("0"), 36);
    p.resolved("tx", 0, "100", "99");
    assert.equal(await lag("0"), 0);

    p.assigned([{ topic: "tx", partition: 1 }]);
    // A micro-batch of partition 0 that finishes after the rebalance does not bring it back.
    p.resolved("tx", 0, "200", "150");
    const s = await scrape(metrics);
    assert.deepEqual(
      s.filter((x) => x.name === "sluice_consumer_lag").map((x) => x.labels["partition"]),
      ["1"],
    );
    assert.equal(sumSamples(s, "sluice_consumer_assigned_partitions", { topic: "tx" }), 1);
    assert.equal(sumSamples(s, "sluice_consumer_rebalances_total", { pipeline: "fraud" }), 2);

    assert.equal(s.filter((x) => x.name.startsWith("sluice_consumer_feature_state")).length, 0);
    p.featureState = () => ({ entities: 3, bytes: 4096 });
    const held = await scrape(metrics);
    assert.equal(
      sumSamples(held, "sluice_consumer_feature_state_entities", { pipeline: "fraud" }),
      3,
    );
    assert.equal(
      sumSamples(held, "sluice_consumer_feature_state_bytes", { pipeline: "fraud" }),
      4096,
    );

    p.stopped();
    const after = await scrape(metrics);
    assert.equal(after.filter((x) => x.name === "sluice_consumer_lag").length, 0);
    assert.equal(after.filter((x) => x.name === "sluice_consumer_assigned_partitions").length, 0);
  });

  it("counts retries by cause and starts its counters at zero", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    let s = await scrape(metrics);
    assert.ok(s.some((x) => x.name === "sluice_consumer_events_total" && x.value === 0));
    p.retried(new ConsumerError("inference_unavailable", "sidecar: UNAVAILABLE"));
    p.retried(new ConsumerError("inference_unavailable", "sidecar: UNAVAILABLE"));
    p.retried(new ConsumerError("store_unavailable", "redis: connection refused"));
    s = await scrape(metrics);
    assert.equal(
      sumSamples(s, "sluice_consumer_retries_total", { code: "inference_unavailable" }),
      2,
    );
    assert.equal(sumSamples(s, "sluice_consumer_retries_total", { code: "store_unavailable" }), 1);
    assert.equal(p.stats.retries, 3);
    assert.deepEqual(p.stats.lastRetry, {
      code: "store_unavailable",
      message: "redis: connection refused",
      at: NOW,
    });
  });

  it("gives the same counts to pipeline.stats as to /metrics, and keeps them after stopping", async () => {
    const metrics = new ConsumerMetrics();
    const p = metrics.forPipeline(IDENTITY, () => NOW);
    p.delivered(batch());
    p.delivered(
      batch({
        deadLetters: { decode_error: 2, feature_error: 1 },
        versions: new Map([
          ["2", { predictions: 1, reviews: 0, scores: [0.3], confidences: [0.7] }],
        ]),
      }),
    );
    p.stopped();
    const s = await scrape(metrics);
    const stats = p.stats;
    assert.deepEqual(stats, {
      events: 6,
      predictions: 3,
      reviews: 1,
      deadLetters: { decode_error: 3, feature_error: 1 },
      microBatches: 2,
      retries: 0,
      lastRetry: undefined,
    });
    assert.equal(sumSamples(s, "sluice_consumer_events_total"), stats.events);
    assert.equal(sumSamples(s, "sluice_consumer_predictions_total"), stats.predictions);
    assert.equal(sumSamples(s, "sluice_consumer_reviews_total"), stats.reviews);
    assert.equal(sumSamples(s, "sluice_consumer_micro_batch_size_count"), stats.microBatches);
    for (const [code, count] of Object.entries(stats.deadLetters)) {
      assert.equal(sumSamples(s, "sluice_consumer_dead_letters_total", { code }), count, code);
    }
    assert.equal(
      sumSamples(s, "sluice_consumer_records_produced_total", { topic: "tx-dlq" }),
      4,
      "every dead letter produced",
    );
  });

  it("adds Node.js process metrics only when asked", async () => {
    assert.ok(
      !(await scrape(new ConsumerMetrics())).some((x) => x.name.startsWith("sluice_process_")),
    );
    const withProcess = await scrape(new ConsumerMetrics({ processMetrics: true }));
    assert.ok(withProcess.some((x) => x.name === "sluice_process_process_resident_memory_bytes"));
  });

  it("serves /metrics over HTTP (and the status page, status-page.test.ts) and 404s anything else", async () => {
    const metrics = new ConsumerMetrics();
    metrics.forPipeline(IDENTITY);
    const server = await metrics.listen("127.0.0.1", 0);
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
      assert.match(
        await response.text(),
        /^sluice_consumer_events_total\{pipeline="fraud",topic="tx"\} 0$/m,
      );
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/nothing`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
