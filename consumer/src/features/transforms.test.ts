import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseFeatureSpec } from "./feature-spec.js";
import {
  applyScalar,
  bucketOf,
  dayOfWeek,
  fnv1a32,
  hourOfDay,
  writeEncoding,
} from "./transforms.js";

describe("transforms", () => {
  it("hour of day is UTC, to the minute, seconds dropped", () => {
    assert.equal(hourOfDay(Date.parse("2024-03-07T12:31:59.999Z")), 12 + 31 / 60);
    assert.equal(hourOfDay(Date.parse("2024-03-07T00:00:00Z")), 0);
    assert.equal(hourOfDay(Date.parse("2024-03-07T23:59:00+00:00")), 23 + 59 / 60);
    assert.equal(hourOfDay(Date.parse("2024-03-07T01:30:00+02:00")), 23.5);
  });

  it("day of week is UTC, Monday 0 … Sunday 6", () => {
    assert.equal(dayOfWeek(Date.parse("2024-03-04T00:00:00Z")), 0); // a Monday
    assert.equal(dayOfWeek(Date.parse("2024-03-07T12:00:00Z")), 3); // Thursday
    assert.equal(dayOfWeek(Date.parse("2024-03-10T23:59:59Z")), 6); // Sunday
    assert.equal(dayOfWeek(0), 3); // 1970-01-01 was a Thursday
  });

  it("bucketize counts boundaries ≤ x (a value on a boundary goes up)", () => {
    const boundaries = [10, 100, 1000];
    assert.deepEqual(
      [-5, 9.99, 10, 50, 100, 999, 1000, 1e9].map((x) => bucketOf(boundaries, x)),
      [0, 0, 1, 1, 2, 2, 3, 3],
    );
  });

  it("FNV-1a matches the published test vectors, over UTF-8", () => {
    assert.equal(fnv1a32(""), 0x811c9dc5);
    assert.equal(fnv1a32("a"), 0xe40c292c);
    assert.equal(fnv1a32("foobar"), 0xbf9cf968);
    assert.equal(fnv1a32("é"), fnv1a32("\u00e9"));
    assert.notEqual(fnv1a32("é"), fnv1a32("e\u0301"));
  });

  it("scalar transforms and encodings", () => {
    const spec = parseFeatureSpec({
      entity_key: "u",
      event_time: "t",
      vector: [
        { name: "a", field: "x", transform: [{ clip: { min: 0, max: 5 } }, "log1p"] },
        {
          name: "b",
          field: "s",
          type: "string",
          transform: { one_hot: { vocabulary: ["web", "pos"] } },
        },
        {
          name: "c",
          field: "s",
          type: "string",
          transform: { hash_buckets: { buckets: 7, output: "index" } },
        },
        {
          name: "d",
          field: "x",
          transform: { bucketize: { boundaries: [1, 2], output: "one_hot" } },
        },
      ],
    });
    const [a, b, c, d] = spec.features.map((f) => f.transforms);
    assert.equal(applyScalar(a![0]!, 9), 5);
    assert.equal(applyScalar(a![0]!, -1), 0);
    assert.equal(applyScalar(a![1]!, Math.E - 1), 1);
    const row = new Float32Array(3);
    writeEncoding(b![0]!, "pos", row, 1);
    assert.deepEqual(Array.from(row), [0, 0, 1]);
    writeEncoding(b![0]!, "POS", row.fill(0), 1); // exact strings only
    assert.deepEqual(Array.from(row), [0, 0, 0]);
    writeEncoding(c![0]!, "merchant-42", row, 0);
    assert.equal(row[0], fnv1a32("merchant-42") % 7);
    writeEncoding(d![0]!, 2, row.fill(0), 0);
    assert.deepEqual(Array.from(row), [0, 0, 1]);
  });
});
