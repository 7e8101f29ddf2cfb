import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { InputRecord } from "../ports/kafka.js";
import { makePrediction, predictionRecord, type Source } from "./output-records.js";
import { PredictionWriter } from "./prediction-writer.js";
import type { Score } from "./scorer.js";

function source(key: string | null, headers: InputRecord["headers"] = {}): Source {
  return {
    topic: "tx",
    partition: 3,
    record: {
      offset: "42",
      key: key === null ? null : Buffer.from(key),
      value: Buffer.from("{}"),
      headers,
      timestamp: "1700000000000",
    },
  };
}

const now = Date.parse("2024-05-06T07:08:09.123Z");

/** Scores the format must survive: binary, one class, several, FP32 noise, non-finite values. */
const SCORES: Score[] = [
  { modelVersion: "1", label: 1, probabilities: [0.029999999329447746, 0.9700000286102295] },
  { modelVersion: "2", label: 0, probabilities: [0.8] },
  { modelVersion: "2", label: 2, probabilities: [0.1, 0.2, 0.7] },
  { modelVersion: 'v"3\\', label: 0, probabilities: [1, 0] },
  { modelVersion: "1", label: 0, probabilities: [-0, 1e-9] },
  { modelVersion: "1", label: 0, probabilities: [NaN, 0.5] },
  { modelVersion: "1", label: 0, probabilities: [Infinity, 0.5] },
  { modelVersion: "1", label: NaN, probabilities: [] },
  // With a rollout: the arm that routed the event.
  { modelVersion: "2", label: 0, probabilities: [0.9, 0.1], arm: "canary" },
  { modelVersion: "1", label: 1, probabilities: [0.4, 0.6], arm: 'a "quoted" arm' },
];

describe("PredictionWriter", () => {
  it("writes the bytes JSON.stringify writes for the Prediction, field order included", () => {
    const writer = new PredictionWriter("fraud", now);
    const sources = [source("user-1"), source(null), source('ü "quoted"\n\u2028'), source("")];
    for (const score of SCORES) {
      for (const from of sources) {
        for (const id of ["tx-1", 'id "with" quotes\\', "tx/3/42"]) {
          const eventTime = 1_700_000_000_123;
          const expected = makePrediction(from, id, "fraud", score, eventTime, now);
          assert.equal(writer.value(id, from, score, eventTime), JSON.stringify(expected));
          assert.equal(writer.score, expected.score);
          assert.equal(writer.confidence, expected.confidence);
        }
      }
    }
  });

  it("writes every probability and event time as JSON.stringify would (the formatting shortcuts)", () => {
    const writer = new PredictionWriter("fraud", now);
    const from = source("user-1");
    let seed = 7;
    const random = (): number => (seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff;
    // Seven-digit rounding at every scale a probability (or a badly scaled output) can take:
    // carries (0.99999996 → 1), exponential notation below 1e-6, all digits above 1e7.
    const probabilities = [
      0.99999996,
      0.999999,
      9.9999999e-7,
      1e-6,
      1.2345675e-7,
      5e-324,
      1234567.4,
      12345678.9,
      -0.5,
      -1e-8,
      0.1 + 0.2,
      100,
      1e21,
      Math.fround(0.3),
    ];
    for (let i = 0; i < 3_000; i++) {
      probabilities.push(Math.fround(random() * 10 ** -Math.floor(random() * 12)));
    }
    // Minutes, seconds and milliseconds, backwards, before 1970, fractional, beyond year 9999.
    const times = [
      0, -1, -60_000, -60_001, 59_999, 60_000, 1_700_000_000_123, 1_700_000_000_123.7, -0.5,
      253_402_300_800_000, -62_198_755_200_001,
    ];
    for (let i = 0; i < 3_000; i++)
      times.push(1_700_000_000_000 + Math.floor(random() * 7_200_000));
    for (let i = 0; i < probabilities.length; i++) {
      const score: Score = {
        modelVersion: "1",
        label: 0,
        probabilities: [probabilities[i]!, probabilities[(i * 7) % probabilities.length]!],
      };
      const eventTime = times[i % times.length]!;
      const expected = makePrediction(from, "id", "fraud", score, eventTime, now);
      assert.equal(writer.value("id", from, score, eventTime), JSON.stringify(expected));
      assert.equal(writer.score, expected.score);
      assert.equal(writer.confidence, expected.confidence);
    }
  });

  it("writes the headers predictionRecord writes, trace context included", () => {
    const writer = new PredictionWriter("fraud", now);
    for (const score of [SCORES[0]!, SCORES.find((s) => s.arm !== undefined)!]) {
      for (const from of [
        source("user-1"),
        source("user-2", { traceparent: "00-abc-def-01", tracestate: "k=v", other: "x" }),
      ]) {
        const expected = predictionRecord(
          "out",
          from,
          makePrediction(from, "id", "fraud", score, 0, now),
        );
        const headers = writer.headers(from, score.modelVersion, score.arm);
        assert.deepEqual(Object.entries(headers), Object.entries(expected.headers));
      }
    }
  });

  it("refuses an event time that is no date, as toISOString does", () => {
    const writer = new PredictionWriter("fraud", now);
    assert.throws(() => writer.value("id", source("k"), SCORES[0]!, NaN), RangeError);
  });
});
