import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { driftReport, driftSubject, evaluationFigures } from "@sluice/testing";
import { ConsumerMetrics } from "../consumer-metrics.js";
import { MonitoringMetrics } from "../monitoring-metrics.js";
import type { PipelineIdentity } from "../pipeline-metrics.js";
import type { DeliveredBatch } from "../pipeline-observer.js";
import { RolloutMetrics } from "../rollout-metrics.js";
import { Ring, StatusHistory } from "./status-history.js";

const IDENTITY: PipelineIdentity = {
  pipeline: "fraud",
  model: "fraud",
  topics: { input: "tx", output: "predictions", deadLetter: "tx-dlq", review: undefined },
};
const T0 = 1_700_000_000_000;

/** Three events committed 20 ms, 80 ms and 3 s after their Kafka timestamps (at `now`). */
function batch(now: number, patch: Partial<DeliveredBatch> = {}): DeliveredBatch {
  return {
    records: [
      { timestamp: String(now - 20) },
      { timestamp: String(now - 80) },
      { timestamp: String(now - 3_000) },
    ],
    deadLetters: { decode_error: 1 },
    versions: new Map([
      ["1", { predictions: 2, reviews: 0, scores: [0.1, 0.9], confidences: [0.9, 0.9] }],
    ]),
    stages: { decode: 0.001, features: 0.001, inference: 0.001, produce: 0.001, commit: 0.001 },
    ...patch,
  };
}

/** A clock the test moves. */
function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** A pipeline's metrics on a clock the test moves, and their history (with `capacity` if given). */
function watched(capacity?: number) {
  const metrics = new ConsumerMetrics();
  const time = clock();
  const p = metrics.forPipeline(IDENTITY, time.now);
  const history = new StatusHistory(metrics.registry, {
    now: time.now,
    ...(capacity === undefined ? {} : { capacity }),
  });
  return { time, p, history };
}

describe("Ring", () => {
  it("keeps the last `capacity` items, oldest first", () => {
    const ring = new Ring<number>(3);
    assert.deepEqual(ring.toArray(), []);
    for (let i = 1; i <= 5; i++) ring.push(i);
    assert.deepEqual(ring.toArray(), [3, 4, 5]);
    assert.equal(ring.length, 3);
    ring.push(6);
    assert.deepEqual(ring.toArray(), [4, 5, 6]);
  });

  it("refuses a capacity that is not a positive integer", () => {
    assert.throws(() => new Ring(0), /expected a positive integer, got 0/);
    assert.throws(
      () => new StatusHistory(new ConsumerMetrics().registry, { capacity: 1.5 }),
      /1.5/,
    );
    assert.throws(
      () => new StatusHistory(new ConsumerMetrics().registry, { intervalMs: 0 }),
      /status interval: expected a positive number of ms, got 0/,
    );
  });
});

describe("StatusHistory", () => {
  it("turns each interval into rates, latency percentiles and a mean micro-batch size", async () => {
    const { time, p, history } = watched();
    await history.sample();
    p.delivered(batch(time.now()));
    p.delivered(batch(time.now()));
    p.fetched("tx", 0, "110", "100");
    time.advance(2_000);
    await history.sample();
    time.advance(2_000);
    await history.sample();

    const [pipeline] = history.toJSON().pipelines;
    assert.equal(pipeline?.name, "fraud");
    const [first, busy, idle] = pipeline.samples;
    // The first reading has no interval to make a rate of.
    assert.equal(first?.eventsPerSecond, null);
    assert.equal(first?.latency, null);
    assert.equal(busy?.time, T0 + 2_000);
    assert.equal(busy?.eventsPerSecond, 3); // 6 events in 2 s
    assert.equal(busy?.predictionsPerSecond, 2);
    assert.equal(busy?.deadLettersPerSecond, 1);
    assert.equal(busy?.batchSize, 3);
    assert.equal(busy?.lag, 10);
    // 2 × {0.02, 0.08, 3} s in buckets …0.025, 0.05, 0.1, … 2.5, 5: p50 falls in (0.05, 0.1]
    // (rank 3 of 6, 2 below), p95 and p99 in (2.5, 5] (4 below, 2 inside).
    const latency = busy?.latency;
    assert.ok(latency !== null && latency !== undefined);
    assert.ok(Math.abs(latency.p50 - (0.05 + 0.05 * (1 / 2))) < 1e-9, `p50 ${latency.p50}`);
    assert.ok(Math.abs(latency.p95 - (2.5 + 2.5 * ((5.7 - 4) / 2))) < 1e-9, `p95 ${latency.p95}`);
    assert.ok(Math.abs(latency.p99 - (2.5 + 2.5 * ((5.94 - 4) / 2))) < 1e-9, `p99 ${latency.p99}`);
    // Nothing happened in the last interval: rates 0, no latency, no micro-batch.
    assert.equal(idle?.eventsPerSecond, 0);
    assert.equal(idle?.latency, null);
    assert.equal(idle?.batchSize, null);
    assert.deepEqual(pipeline.now.totals, {
      events: 6,
      predictions: 4,
      deadLetters: 2,
      microBatches: 2,
    });
    assert.deepEqual(pipeline.now.lag, [{ topic: "tx", partition: "0", lag: 10 }]);
    assert.equal(pipeline.now.model, "fraud");
    assert.equal(pipeline.now.version, "1");
  });

  it("keeps at most `capacity` samples per pipeline", async () => {
    const { time, p, history } = watched(2);
    for (let i = 0; i < 4; i++) {
      p.delivered(batch(time.now()));
      time.advance(1_000);
      await history.sample();
    }
    const samples = history.toJSON().pipelines[0]!.samples;
    assert.deepEqual(
      samples.map((s) => s.time),
      [T0 + 3_000, T0 + 4_000],
    );
  });

  it("shows the rollout's weights, predictions by arm and shadow agreement", async () => {
    const { time, p, history } = watched();
    p.rollout = new RolloutMetrics(
      () => [
        { segment: "_default", arm: "stable", version: "stable", share: 0.9 },
        { segment: "_default", arm: "canary", version: "2", share: 0.1 },
        { segment: "<b>web</b>", arm: "canary", version: "2", share: 1 },
      ],
      (version) => p.shadowDifference(version),
    );
    await history.sample();
    p.delivered(
      batch(time.now(), {
        arms: new Map([
          ["stable", new Map([["1", 9]])],
          ["canary", new Map([["2", 1]])],
        ]),
      }),
    );
    for (let i = 0; i < 3; i++) p.rollout.shadowCompared("3", true, 0.01);
    p.rollout.shadowCompared("3", false, 0.4);
    p.rollout.shadowCall("3", "success");
    p.rollout.shadowCall("3", "deadline_exceeded");
    p.rollout.rolledBack("canary", ["score_psi"]);
    time.advance(2_000);
    await history.sample();

    const { now, samples } = history.toJSON().pipelines[0]!;
    assert.deepEqual(samples[1]?.armPredictionsPerSecond, { stable: 4.5, canary: 0.5 });
    assert.deepEqual(samples[1]?.weights, {
      "stable (stable)": 0.9,
      "canary (v2)": 0.1,
      "<b>web</b>: canary (v2)": 1,
    });
    assert.deepEqual(samples[1]?.shadowAgreement, { "3": 0.75 });
    assert.deepEqual(now.weights[2], {
      segment: "<b>web</b>",
      arm: "canary",
      version: "2",
      share: 1,
    });
    assert.deepEqual(now.armPredictions, [
      { arm: "stable", version: "1", predictions: 9 },
      { arm: "canary", version: "2", predictions: 1 },
    ]);
    assert.deepEqual(now.rollbacks, [{ arm: "canary", check: "score_psi", count: 1 }]);
    assert.deepEqual(now.shadow, [
      {
        version: "3",
        agree: 3,
        disagree: 1,
        agreement: 0.75,
        requests: { success: 1, deadline_exceeded: 1 },
      },
    ]);
  });

  it("reads drift and evaluation gauges when the pipeline has them, and says nothing when not", async () => {
    const { time, p: pipeline, history } = watched();
    await history.sample();
    let { now, samples } = history.toJSON().pipelines[0]!;
    assert.deepEqual(
      {
        drift: now.drift,
        score: now.driftScore,
        events: now.driftEvents,
        evaluation: now.evaluation,
      },
      { drift: [], score: [], events: null, evaluation: [] },
    );
    assert.deepEqual(samples[0]?.driftPsi, {});

    // What the drift monitor and the evaluator report, as the pipeline's monitor keeps it: the
    // consumer renders its series from it (docs/metrics.md names them).
    const monitoring = new MonitoringMetrics();
    pipeline.monitoring = monitoring;
    monitoring.drift.set(
      "1",
      driftReport(
        [driftSubject("amount_log", 0.31, "major")],
        driftSubject("score", 0.02, "stable", { ks: { value: 0.12, bound: 0.01 } }),
        T0,
      ),
    );
    monitoring.driftEvent("1", "moderate");
    monitoring.driftEvent("1", "major");
    // Figures not defined yet (NaN) have no series.
    monitoring.evaluation.set(
      "1\nstable",
      evaluationFigures({ version: "1", arm: "stable", labels: 500, rocAuc: 0.93 }),
    );
    time.advance(2_000);
    await history.sample();

    ({ now, samples } = history.toJSON().pipelines[0]!);
    assert.deepEqual(now.drift, [
      { model: "fraud", version: "1", subject: "amount_log", psi: 0.31, band: "major" },
      { model: "fraud", version: "1", subject: "score", psi: 0.02, band: "stable" },
    ]);
    assert.deepEqual(now.driftScore, [
      { model: "fraud", version: "1", ks: 0.12, wasserstein: null },
    ]);
    assert.equal(now.driftEvents, 2);
    assert.deepEqual(now.evaluation, [
      { model: "fraud", version: "1", arm: "stable", roc_auc: 0.93, labels: 500 },
    ]);
    assert.deepEqual(samples[1]?.driftPsi, { "amount_log (v1)": 0.31, "score (v1)": 0.02 });
    assert.deepEqual(samples[1]?.evaluation, { "stable (v1)": { roc_auc: 0.93, labels: 500 } });
  });

  it("keeps a failed reading as the document's error and recovers at the next", async () => {
    let fail = true;
    const metrics = new ConsumerMetrics();
    metrics.forPipeline(IDENTITY);
    const registry = {
      getMetricsAsJSON: () =>
        fail ? Promise.reject(new Error("collect broke")) : metrics.registry.getMetricsAsJSON(),
    };
    const history = new StatusHistory(registry);
    await history.sample();
    assert.deepEqual(history.toJSON(), {
      intervalSeconds: 2,
      capacity: 300,
      sampledAt: null,
      error: "reading the metrics failed: collect broke",
      pipelines: [],
    });
    fail = false;
    await history.sample();
    const document = history.toJSON();
    assert.equal(document.error, null);
    assert.equal(document.pipelines.length, 1);
  });

  it("is JSON as /status.json serves it: the same document after a round trip", async () => {
    const { time, p, history } = watched();
    await history.sample();
    p.delivered(batch(time.now()));
    time.advance(2_000);
    await history.sample();
    const document = history.toJSON();
    assert.deepEqual(JSON.parse(JSON.stringify(document)), document);
    assert.deepEqual(Object.keys(document.pipelines[0]!.samples[1]!).sort(), [
      "armPredictionsPerSecond",
      "batchSize",
      "deadLettersPerSecond",
      "driftPsi",
      "evaluation",
      "eventsPerSecond",
      "lag",
      "latency",
      "predictionsPerSecond",
      "shadowAgreement",
      "time",
      "weights",
    ]);
  });
});
