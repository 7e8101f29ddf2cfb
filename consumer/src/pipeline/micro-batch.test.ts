import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeFeatures } from "@sluice/testing";
import { ConsumerError } from "../errors.js";
import type { Inference, InferRequest, InferResponse } from "../ports/inference.js";
import type { InputRecord } from "../ports/kafka.js";
import { MicroBatchProcessor } from "./micro-batch.js";
import { HEADERS, type Prediction } from "./output-records.js";
import { Scorer } from "./scorer.js";

/** One feature, the event's `x`; `bad: true` fails it. */
const features = new FakeFeatures();

/** P(class 1) = x; any batch with x > 1 is rejected. */
const sidecar: Inference = {
  describe: () => Promise.reject(new Error("not used")),
  infer(request: InferRequest): Promise<InferResponse> {
    const probabilities = new Float32Array(request.count * 2);
    for (let i = 0; i < request.count; i++) {
      const x = request.rows[i]!;
      if (x > 1) {
        return Promise.reject(
          new ConsumerError("inference_rejected", "[INVALID_ARGUMENT] x > 1", { retryable: false }),
        );
      }
      probabilities[2 * i] = 1 - x;
      probabilities[2 * i + 1] = x;
    }
    return Promise.resolve({
      modelVersion: "7",
      outputs: new Map([
        ["probabilities", { datatype: "FP32", shape: [request.count, 2], data: probabilities }],
      ]),
    });
  },
  close: () => {},
};

function record(offset: number, value: string | null, headers = {}): InputRecord {
  return {
    offset: String(offset),
    key: Buffer.from("user-1"),
    value: value === null ? null : Buffer.from(value),
    headers,
    timestamp: "1700000000123",
  };
}

describe("MicroBatchProcessor", () => {
  const scorer = new Scorer(
    sidecar,
    {
      model: "m",
      version: undefined,
      input: "x",
      width: 1,
      probabilities: "probabilities",
      label: undefined,
    },
    1000,
  );
  const processor = new MicroBatchProcessor(
    features,
    scorer,
    {
      model: "m",
      idField: "id",
      outputTopic: "out",
      deadLetterTopic: "dlq",
      reviewTopic: "review",
      reviewBelow: 0.6,
    },
    () => Date.parse("2024-01-01T00:00:00Z"),
  );

  it("keeps input order: predictions, review copies and dead letters with their reasons", async () => {
    const result = await processor.process("in", 4, [
      record(10, JSON.stringify({ id: "a", x: 0.9 }), { traceparent: "00-abc-def-01" }),
      record(11, "{oops"),
      record(12, JSON.stringify({ id: "b", x: 0.5 })),
      record(13, JSON.stringify({ id: "c", x: 1, bad: true })),
      record(14, JSON.stringify({ id: "d", x: 2 })),
      record(15, JSON.stringify({ x: 0.1 })),
    ]);
    assert.deepEqual(
      result.records.map((r) => [r.topic, r.headers[HEADERS.sourceOffset]]),
      [
        ["out", "10"],
        ["dlq", "11"],
        ["out", "12"],
        ["review", "12"],
        ["dlq", "13"],
        ["dlq", "14"],
        ["out", "15"],
      ],
    );
    assert.equal(result.predictions, 3);
    assert.equal(result.reviews, 1);
    assert.deepEqual(result.deadLetters, {
      decode_error: 1,
      feature_error: 1,
      inference_rejected: 1,
    });

    const first = result.records[0]!;
    const prediction = JSON.parse(String(first.value)) as Prediction;
    assert.deepEqual(prediction, {
      id: "a",
      key: "user-1",
      model: "m",
      model_version: "7",
      label: 1,
      score: 0.9,
      probabilities: [0.1, 0.9],
      confidence: 0.9,
      event_time: "2023-11-14T22:13:20.000Z",
      predicted_at: "2024-01-01T00:00:00.000Z",
    });
    assert.equal(first.headers["traceparent"], "00-abc-def-01");
    assert.equal(first.headers[HEADERS.modelVersion], "7");
    assert.equal(first.headers[HEADERS.sourcePartition], "4");

    const rejected = result.records[5]!;
    assert.equal(rejected.headers[HEADERS.errorCode], "inference_rejected");
    assert.match(String(rejected.headers[HEADERS.errorMessage]), /INVALID_ARGUMENT/);
    assert.equal(rejected.headers[HEADERS.sourceTimestamp], "1700000000123");
    assert.deepEqual(rejected.value, Buffer.from(JSON.stringify({ id: "d", x: 2 })));

    const anonymous = JSON.parse(String(result.records[6]!.value)) as Prediction;
    assert.equal(anonymous.id, "in/4/15", "an event without an id is named by its position");
  });
});
