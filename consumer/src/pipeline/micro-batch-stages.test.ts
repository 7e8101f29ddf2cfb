import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeFeatures } from "@sluice/testing";
import { ConsumerError } from "../errors.js";
import type { MicroBatchTrace } from "../observability/micro-batch-trace.js";
import type { InputRecord, OutputRecord } from "../ports/kafka.js";
import {
  buildRecords,
  computeFeatures,
  decodeRecords,
  type EventProgress,
  type RecordSettings,
} from "./micro-batch-stages.js";
import { HEADERS, type Prediction } from "./output-records.js";
import type { ScoreOutcome } from "./scorer.js";

function record(offset: number, value: Buffer | string | null): InputRecord {
  return {
    offset: String(offset),
    key: Buffer.from(`user-${offset}`),
    value: typeof value === "string" ? Buffer.from(value) : value,
    headers: {},
    timestamp: "1700000000000",
  };
}

function failed(code: ConsumerError["code"]): EventProgress {
  return { kind: "failed", error: new ConsumerError(code, `a ${code}`, { retryable: false }) };
}

function featured(row: number, x: number): EventProgress {
  return { kind: "featured", value: { id: `e${x}`, x }, eventTime: 0, row };
}

function scored(p1: number, modelVersion = "1"): ScoreOutcome {
  return {
    ok: true,
    score: { modelVersion, label: p1 > 0.5 ? 1 : 0, probabilities: [1 - p1, p1] },
  };
}

/** A trace that writes down what it is told, in order. */
function recordingTrace(): MicroBatchTrace & { readonly told: string[] } {
  const told: string[] = [];
  return {
    told,
    run: (work) => work(),
    scored: (index, version) => told.push(`scored ${index} v${version}`),
    deadLettered: (index, error) => told.push(`dead ${index} ${error.code}`),
    created: (index, out: OutputRecord) => told.push(`created ${index} ${out.topic}`),
    send: (_records, deliver) => deliver(),
    end() {},
  };
}

const SETTINGS: RecordSettings = {
  model: "fraud",
  idField: "id",
  outputTopic: "out",
  deadLetterTopic: "dlq",
  reviewTopic: "review",
  reviewBelow: 0.6,
};

describe("decodeRecords", () => {
  it("decodes JSON values and says why the others cannot be decoded", () => {
    const decoded = decodeRecords([
      record(0, '{"x":1}'),
      record(1, null),
      record(2, Buffer.from([0xff, 0xfe, 0xfd])),
      record(3, "{oops"),
    ]);
    assert.deepEqual(decoded[0], { kind: "decoded", value: { x: 1 } });
    const errors = decoded.slice(1).map((event) => {
      assert.equal(event.kind, "failed");
      return event.kind === "failed" ? [event.error.code, event.error.message] : [];
    });
    assert.deepEqual(
      errors.map(([code]) => code),
      ["decode_error", "decode_error", "decode_error"],
    );
    assert.match(errors[0]![1]!, /^record value: expected JSON, got no value \(a tombstone\)$/);
    assert.match(errors[1]![1]!, /^record value: expected UTF-8 text, got 3 bytes that are not$/);
    assert.match(errors[2]![1]!, /^record value: expected JSON, got "\{oops" \(/);
  });
});

describe("computeFeatures", () => {
  it("computes the decoded events' rows in one call and packs them in input order", async () => {
    const features = new FakeFeatures(1000);
    const records = [record(10, ""), record(11, ""), record(12, ""), record(13, "")];
    const decoded: EventProgress[] = [
      { kind: "decoded", value: { x: 1 } },
      failed("decode_error"),
      { kind: "decoded", value: { x: 3, bad: true } },
      { kind: "decoded", value: { x: 4 } },
    ];
    const { events, rows, count } = await computeFeatures(features, "tx", 5, records, decoded);

    assert.equal(features.calls.length, 1, "one call for the micro-batch");
    assert.deepEqual(
      features.calls[0]!.map(({ key, topic, partition, offset }) => [
        key,
        topic,
        partition,
        offset,
      ]),
      [
        ["user-10", "tx", 5, "10"],
        ["user-12", "tx", 5, "12"],
        ["user-13", "tx", 5, "13"],
      ],
      "only decoded events, with their key as text and their position",
    );
    assert.equal(count, 2);
    assert.deepEqual([...rows], [1, 4], "the rows of the events that got features");
    assert.deepEqual(events[0], { kind: "featured", value: { x: 1 }, eventTime: 1000, row: 0 });
    assert.equal(events[1], decoded[1], "an event failed before stays failed");
    const third = events[2]!;
    assert.equal(third.kind === "failed" && third.error.code, "feature_error");
    assert.deepEqual(events[3], { kind: "featured", value: { x: 4 }, eventTime: 1000, row: 1 });
    assert.equal(decoded[0]!.kind, "decoded", "the input progress is left as it was");
  });

  it("asks nothing of the features when no event decoded", async () => {
    const features = new FakeFeatures(1000);
    const result = await computeFeatures(
      features,
      "tx",
      0,
      [record(0, null)],
      [failed("decode_error")],
    );
    assert.deepEqual(features.calls, []);
    assert.equal(result.count, 0);
    assert.equal(result.rows.length, 0);
  });

  it("rejects as a whole when the store is unavailable", async () => {
    const features = new FakeFeatures(1000);
    features.failWith = new ConsumerError("store_unavailable", "redis: connection refused");
    await assert.rejects(
      computeFeatures(features, "tx", 0, [record(0, "")], [{ kind: "decoded", value: { x: 1 } }]),
      (error) => ConsumerError.is(error, "store_unavailable") && error.retryable,
    );
  });
});

describe("buildRecords", () => {
  const now = Date.parse("2024-01-01T00:00:00Z");
  const sources = [0, 1, 2, 3].map((offset) => ({
    topic: "tx",
    partition: 2,
    record: record(offset, `{"x":${offset}}`),
  }));

  it("makes predictions, review copies and dead letters in input order, counted by version and code", () => {
    const trace = recordingTrace();
    const rejected = new ConsumerError("inference_rejected", "[INVALID_ARGUMENT] row 2", {
      retryable: false,
    });
    const output = buildRecords(
      SETTINGS,
      sources,
      [featured(0, 0), failed("invalid_event"), featured(1, 2), featured(2, 3)],
      [scored(0.9), scored(0.55), { ok: false, error: rejected }],
      trace,
      now,
    );
    assert.deepEqual(
      output.records.map((r) => [r.topic, r.headers[HEADERS.sourceOffset]]),
      [
        ["out", "0"],
        ["dlq", "1"],
        ["out", "2"],
        ["review", "2"],
        ["dlq", "3"],
      ],
    );
    assert.equal(output.predictions, 2);
    assert.equal(output.reviews, 1);
    assert.deepEqual(output.deadLetters, { invalid_event: 1, inference_rejected: 1 });
    assert.deepEqual(output.versions.get("1"), {
      predictions: 2,
      reviews: 1,
      scores: [0.9, 0.55],
      confidences: [0.9, 0.55],
    });
    const prediction = JSON.parse(String(output.records[0]!.value)) as Prediction;
    assert.equal(prediction.id, "e0");
    assert.equal(prediction.predicted_at, "2024-01-01T00:00:00.000Z");
    assert.equal(output.records[4]!.headers[HEADERS.errorCode], "inference_rejected");
    assert.deepEqual(trace.told, [
      "scored 0 v1",
      "created 0 out",
      "dead 1 invalid_event",
      "created 1 dlq",
      "scored 2 v1",
      "created 2 out",
      "created 2 review",
      "dead 3 inference_rejected",
      "created 3 dlq",
    ]);
  });

  it("counts each model version apart when a version swap lands mid-batch", () => {
    const output = buildRecords(
      { ...SETTINGS, reviewTopic: undefined },
      sources.slice(0, 2),
      [featured(0, 0), featured(1, 1)],
      [scored(0.2, "1"), scored(0.1, "2")],
      recordingTrace(),
      now,
    );
    assert.deepEqual([...output.versions.keys()], ["1", "2"]);
    assert.equal(output.reviews, 0, "no review topic, no review copies");
    assert.deepEqual(
      output.records.map((r) => r.headers[HEADERS.modelVersion]),
      ["1", "2"],
    );
  });

  it("refuses an event that skipped a stage: a bug, not a dead letter", () => {
    assert.throws(
      () =>
        buildRecords(
          SETTINGS,
          sources.slice(0, 1),
          [{ kind: "decoded", value: {} }],
          [],
          recordingTrace(),
          now,
        ),
      (error) =>
        ConsumerError.is(error, "internal") && /offset 0 got no features/.test(error.message),
    );
    assert.throws(
      () =>
        buildRecords(SETTINGS, sources.slice(0, 1), [featured(0, 0)], [], recordingTrace(), now),
      (error) => ConsumerError.is(error, "internal") && /offset 0 got no score/.test(error.message),
    );
  });
});
