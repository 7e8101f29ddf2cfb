import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { TopicHistory } from "../ports/topic-history.js";
import { describeBound, parseRangeBound, resolveRanges } from "./backtest-range.js";

const NOW = Date.parse("2026-03-09T12:00:00Z");

describe("parseRangeBound", () => {
  test("offsets, times, durations ago, earliest and end", () => {
    assert.deepEqual(parseRangeBound("1200"), { kind: "offset", offset: 1200n });
    assert.deepEqual(parseRangeBound("0"), { kind: "offset", offset: 0n });
    assert.deepEqual(parseRangeBound("2026-03-09T10:00:00Z"), {
      kind: "time",
      ms: Date.parse("2026-03-09T10:00:00Z"),
    });
    assert.deepEqual(parseRangeBound("2026-03-09"), {
      kind: "time",
      ms: Date.parse("2026-03-09T00:00:00Z"),
    });
    assert.deepEqual(parseRangeBound("1h", NOW), { kind: "time", ms: NOW - 3_600_000 });
    assert.deepEqual(parseRangeBound("7d", NOW), { kind: "time", ms: NOW - 7 * 86_400_000 });
    assert.deepEqual(parseRangeBound("earliest"), { kind: "earliest" });
    assert.deepEqual(parseRangeBound("end"), { kind: "end" });
    assert.deepEqual(parseRangeBound("latest"), { kind: "end" });
  });

  test("anything else is refused, saying what was expected", () => {
    for (const text of ["soon", "-5", "1.5", "2026-13-45", ""]) {
      assert.throws(() => parseRangeBound(text), /expected an offset .* got "/, text);
    }
  });

  test("reads back as written", () => {
    assert.equal(describeBound({ kind: "offset", offset: 7n }), "offset 7");
    assert.equal(describeBound({ kind: "time", ms: NOW }), "2026-03-09T12:00:00.000Z");
    assert.equal(describeBound({ kind: "earliest" }), "earliest");
  });
});

describe("resolveRanges", () => {
  // Partition 0 holds offsets 10..100, partition 1 is empty at 5; by time, the first record at or
  // after T is 40 on partition 0, and none on partition 1 (its end).
  const history: TopicHistory = {
    extents: () =>
      Promise.resolve([
        { partition: 0, start: 10n, end: 100n },
        { partition: 1, start: 5n, end: 5n },
      ]),
    offsetsForTime: () =>
      Promise.resolve(
        new Map([
          [0, 40n],
          [1, 5n],
        ]),
      ),
    read: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };

  test("clamps to what each partition holds; an empty range stays empty", async () => {
    assert.deepEqual(await resolveRanges(history, "t", { kind: "earliest" }, { kind: "end" }), [
      { partition: 0, from: 10n, to: 100n },
      { partition: 1, from: 5n, to: 5n },
    ]);
    assert.deepEqual(
      await resolveRanges(
        history,
        "t",
        { kind: "offset", offset: 0n },
        { kind: "offset", offset: 50n },
      ),
      [
        { partition: 0, from: 10n, to: 50n },
        { partition: 1, from: 5n, to: 5n },
      ],
    );
    assert.deepEqual(
      await resolveRanges(history, "t", { kind: "time", ms: 1 }, { kind: "offset", offset: 500n }),
      [
        { partition: 0, from: 40n, to: 100n },
        { partition: 1, from: 5n, to: 5n },
      ],
    );
    // A --to before --from reads nothing rather than backwards.
    assert.deepEqual(
      await resolveRanges(history, "t", { kind: "offset", offset: 60n }, { kind: "time", ms: 1 }),
      [
        { partition: 0, from: 60n, to: 60n },
        { partition: 1, from: 5n, to: 5n },
      ],
    );
  });
});
