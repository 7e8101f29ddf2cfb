/**
 * `runBacktest` on fakes of its ports: how it stops (an abort, a failure that does not pass), how
 * it retries, and that the records stage's verdicts are what it counts. Its figures on the real
 * Kafka, Redis and sidecar are checked against a direct computation in test/backtest.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parsePipelineConfig } from "../config/pipeline-config.js";
import { ConsumerError } from "../errors.js";
import type { FeatureStore, StoreRequest, StoreResponse } from "../ports/feature-store.js";
import type { Inference, InferRequest, InferResponse } from "../ports/inference.js";
import type { InputRecord } from "../ports/kafka.js";
import type { HistoryBatch, PartitionRange, TopicHistory } from "../ports/topic-history.js";
import { runBacktest } from "./backtest.js";

/** A stateless pipeline: one feature, the amount. */
const config = parsePipelineConfig({
  pipeline: {
    name: "p",
    topics: { input: "in", output: "out", dead_letter: "dlq" },
    features: {
      entity_key: "user",
      event_time: "t",
      vector: [{ name: "amount", field: "amount" }],
    },
    model: { sidecar: "127.0.0.1:1", name: "m" },
    batch: { max_events: 4 },
    retry: { initial_backoff_ms: 1, max_backoff_ms: 2 },
  },
});

/** Event times: epoch milliseconds (the extractor refuses what looks like seconds). */
const T0 = Date.parse("2026-03-09T12:00:00Z");

function record(offset: number, value: unknown): InputRecord {
  return {
    offset: String(offset),
    key: Buffer.from("u"),
    value: Buffer.from(typeof value === "string" ? value : JSON.stringify(value)),
    headers: {},
    timestamp: "0",
  };
}

/** `n` events on partition 0, amount = offset / 10, every 5th one not JSON. */
function history(n: number, perBatch = 4): TopicHistory & { ranges?: readonly PartitionRange[] } {
  const records = Array.from({ length: n }, (_, i) =>
    i % 5 === 4 ? record(i, "{not json") : record(i, { user: "u", t: T0 + i, amount: i / 10 }),
  );
  const fake: TopicHistory & { ranges?: readonly PartitionRange[] } = {
    extents: () => Promise.resolve([{ partition: 0, start: 0n, end: BigInt(n) }]),
    offsetsForTime: () => Promise.resolve(new Map([[0, 0n]])),
    async read(_topic, ranges, onBatch: (batch: HistoryBatch) => Promise<void>, signal) {
      fake.ranges = ranges;
      const { from, to } = ranges[0]!;
      for (let at = Number(from); at < Number(to); at += perBatch) {
        if (signal?.aborted === true) return;
        const end = Math.min(at + perBatch, Number(to));
        await onBatch({ partition: 0, records: records.slice(at, end), next: BigInt(end) });
      }
    },
    close: () => Promise.resolve(),
  };
  return fake;
}

const store: FeatureStore = {
  apply: (request: StoreRequest): Promise<StoreResponse> =>
    Promise.resolve({
      windowValues: new Float64Array(0),
      previousEventTimes: [],
      lookups: request.lookups.map(() => null),
    }),
  close: () => Promise.resolve(),
};

/** A model whose P(class 1) is the amount (version 2) or half of it (version 1). */
class FakeInference implements Inference {
  failures: ConsumerError[] = [];
  calls = 0;

  describe(model: string) {
    return Promise.resolve({
      name: model,
      versions: ["1", "2"],
      inputs: [{ name: "x", datatype: "FP32", shape: [-1, 1] }],
      outputs: [{ name: "probabilities", datatype: "FP32", shape: [-1, 2] }],
      maxBatchSize: 16,
    });
  }

  infer(request: InferRequest): Promise<InferResponse> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    const scale = request.version === 1 ? 0.5 : 1;
    const data = new Float32Array(request.count * 2);
    for (let i = 0; i < request.count; i++) {
      const p = Math.min(request.rows[i]! * scale, 1);
      data[2 * i] = 1 - p;
      data[2 * i + 1] = p;
    }
    return Promise.resolve({
      modelVersion: String(request.version),
      outputs: new Map([["probabilities", { datatype: "FP32", shape: [request.count, 2], data }]]),
    });
  }

  close(): void {}
}

describe("runBacktest", () => {
  test("counts what the stages decide and compares the versions", async () => {
    const report = await runBacktest(
      config,
      { history: history(10), inference: new FakeInference(), store },
      { version: "2", against: "1" },
    );
    assert.equal(report.read, 10);
    assert.equal(report.predictions, 8, JSON.stringify(report.deadLettersByCode));
    assert.equal(report.predictions, 8);
    assert.equal(report.deadLettersByCode.decode_error?.count, 2);
    assert.equal(report.complete, true);
    assert.deepEqual(report.partitions, [{ partition: 0, from: "0", to: "10" }]);
    // amounts 0, .1, .2, .3, .5, .6, .7, .8: version 1 gives half of each.
    const mean = (0 + 0.1 + 0.2 + 0.3 + 0.5 + 0.6 + 0.7 + 0.8) / 8;
    assert.ok(Math.abs(report.versions[0]!.scores.mean - mean) < 1e-6);
    assert.ok(Math.abs(report.versions[1]!.scores.mean - mean / 2) < 1e-6);
    assert.ok(Math.abs(report.comparison!.meanAbsDifference - mean / 2) < 1e-6);
    // Decisions at 0.5 differ where the amount is from 0.5 to 0.8 (version 1 stays below).
    assert.equal(report.comparison?.agreement, 4 / 8);
  });

  test("an abort stops the replay; the report says it is incomplete", async () => {
    const abort = new AbortController();
    const report = await runBacktest(
      config,
      { history: history(40), inference: new FakeInference(), store },
      {
        version: "2",
        signal: abort.signal,
        onProgress: (progress) => {
          if (progress.done >= 8) abort.abort();
        },
      },
    );
    assert.equal(report.read, 8);
    assert.equal(report.complete, false);
  });

  test("a sidecar away for a moment is retried; one that stays away fails the backtest", async () => {
    const unavailable = () =>
      new ConsumerError("inference_unavailable", "sidecar away", { retryable: true });
    const inference = new FakeInference();
    inference.failures = [unavailable(), unavailable()];
    const report = await runBacktest(
      config,
      { history: history(4), inference, store },
      { version: "2", attempts: 3 },
    );
    assert.equal(report.predictions, 4);
    assert.equal(inference.calls, 3);

    const away = new FakeInference();
    away.failures = Array.from({ length: 10 }, unavailable);
    await assert.rejects(
      runBacktest(
        config,
        { history: history(4), inference: away, store },
        { version: "2", attempts: 3 },
      ),
      /sidecar away/,
    );
    assert.equal(away.calls, 3);
  });

  test("a range by offsets reaches the history as asked", async () => {
    const fake = history(20);
    const report = await runBacktest(
      config,
      { history: fake, inference: new FakeInference(), store },
      { version: "2", from: { kind: "offset", offset: 5n }, to: { kind: "offset", offset: 12n } },
    );
    assert.deepEqual(fake.ranges, [{ partition: 0, from: 5n, to: 12n }]);
    assert.equal(report.read, 7);
    assert.equal(report.from, "offset 5");
  });
});
