import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "@sluice/kit";
import { referenceFromSamples } from "../lifecycle/reference-distribution.js";
import { MonitoringMetrics } from "../observability/monitoring-metrics.js";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import type { ScoreOutcome } from "../pipeline/scorer.js";
import { ModelMonitor, type ModelMonitorOptions } from "./model-monitor.js";

const COLUMNS = ["a", "b"];

/** n rows of two columns: a uniform on [shift, 1 + shift), b uniform on [0, 1); scores = a clipped. */
function batch(n: number, shift: number, seed: number) {
  let x = seed;
  const random = () => ((x = (x * 16807) % 2147483647) - 1) / 2147483646;
  const rows = new Float32Array(n * 2);
  const scores: ScoreOutcome[] = [];
  for (let i = 0; i < n; i++) {
    rows[2 * i] = random() + shift;
    rows[2 * i + 1] = random();
    const p = Math.min(rows[2 * i]! / 2, 1);
    scores.push({
      ok: true,
      score: { modelVersion: "1", label: p >= 0.5 ? 1 : 0, probabilities: [1 - p, p] },
    });
  }
  return { rows, scores };
}

function recorder(): KafkaProducer & { records: OutputRecord[] } {
  const records: OutputRecord[] = [];
  return {
    records,
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    send: (sent) => {
      records.push(...sent);
      return Promise.resolve();
    },
  };
}

function monitor(clock: { now: number }, patch: Partial<ModelMonitorOptions> = {}) {
  const reference = batch(5_000, 0, 1);
  const scores = reference.scores.map((s) => (s.ok ? s.score.probabilities[1]! : Number.NaN));
  const producer = recorder();
  const metrics = new MonitoringMetrics();
  const m = new ModelMonitor({
    pipeline: "p",
    model: "m",
    columns: COLUMNS,
    drift: {
      reference: { kind: "file", modelRepository: "/models" },
      window: { kind: "events", events: 1_000, slices: 10 },
      minEvents: 900,
      bands: { moderate: 0.1, major: 0.25 },
      hysteresis: 0.02,
      topic: "drift",
    },
    references: new Map([["1", referenceFromSamples(COLUMNS, reference.rows, 5_000, scores)]]),
    evaluation: undefined,
    retraining: undefined,
    metrics,
    log: silentLogger,
    producer,
    now: () => clock.now,
    ...patch,
  });
  return { m, producer, metrics };
}

describe("ModelMonitor", () => {
  it("judges drift after each commit: no event for the first stable judgement, one per band change, JSON on the drift topic", () => {
    const clock = { now: 1_000 };
    const { m, producer, metrics } = monitor(clock);
    const calm = batch(1_000, 0, 7);
    m.scored(calm.rows, 1_000, calm.scores);
    m.committed();
    const report = metrics.drift.get("1")!;
    assert.ok(report.judged);
    assert.deepEqual(
      report.features.map((f) => f.state),
      ["stable", "stable"],
    );
    assert.equal(producer.records.length, 0);
    assert.equal(metrics.driftEvents.size, 0);

    const shifted = batch(1_000, 0.5, 9);
    clock.now = 2_000;
    m.scored(shifted.rows, 1_000, shifted.scores);
    m.committed();
    const events = producer.records.map(
      (r) => JSON.parse(String(r.value)) as Record<string, unknown>,
    );
    const a = events.find((e) => e["subject"] === "a")!;
    assert.equal(a["type"], "drift");
    assert.equal(a["from"], "stable");
    assert.equal(a["to"], "major");
    assert.equal(a["version"], "1");
    assert.equal(a["reference"], "warmup");
    assert.equal(producer.records[0]!.topic, "drift");
    assert.equal(String(producer.records[0]!.key), "m/1");
    assert.ok(!events.some((e) => e["subject"] === "b"), "b did not move");
    assert.equal(
      metrics.driftEvents.get("1\nmajor"),
      events.filter((e) => e["to"] === "major").length,
    );
  });

  it("leaves a version without a reference unmonitored, and a failed scored row out", () => {
    const clock = { now: 1_000 };
    const { m, metrics } = monitor(clock);
    const other = batch(10, 0, 3);
    const scores = other.scores.map((s, i): ScoreOutcome =>
      i === 0 || !s.ok ? s : { ok: true, score: { ...s.score, modelVersion: "9" } },
    );
    m.scored(other.rows, 10, scores);
    m.committed();
    assert.deepEqual([...metrics.drift.keys()], ["1"]);
    assert.equal(metrics.drift.get("1")!.window.events, 1);
  });

  it("asks for retraining once per cooldown, on the topic and the webhook", async () => {
    const clock = { now: 0 };
    const posted: unknown[] = [];
    const { m, producer, metrics } = monitor(clock, {
      retraining: {
        cooldownMs: 60_000,
        conditions: [
          {
            metric: "psi",
            subject: "a",
            above: 0.25,
            below: undefined,
            forMs: 1_000,
            minLabels: 1,
          },
        ],
        topic: "retrain",
        webhook: (event) => {
          posted.push(event);
          return Promise.resolve();
        },
      },
    });
    for (let i = 0; i < 6; i++) {
      const b = batch(1_000, 0.5, 11 + i);
      clock.now = i * 1_000;
      m.scored(b.rows, 1_000, b.scores);
      m.committed();
    }
    await Promise.resolve();
    const retrain = producer.records.filter((r) => r.topic === "retrain");
    assert.equal(retrain.length, 1);
    assert.equal(metrics.retrainingEvents, 1);
    // The webhook's body is the topic's record (the webhook serialises the same object).
    assert.deepEqual(JSON.parse(JSON.stringify(posted)), [JSON.parse(String(retrain[0]!.value))]);
    const event = posted[0] as { reasons: { condition: string }[]; pipeline: string; at: string };
    assert.equal(event.reasons[0]!.condition, "psi of a above 0.25 for 1s");
    assert.equal(event.pipeline, "p");
    assert.equal(event.at, new Date(1_000).toISOString());
  });
});
