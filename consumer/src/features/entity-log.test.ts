import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StatePlan } from "../ports/feature-store.js";
import { EntityLog, layoutOf } from "./entity-log.js";

const MINUTE = 60_000;

/** Every aggregation, over a count, a number (amount) and two strings (merchant, country). */
const plan: StatePlan = {
  windows: [
    { aggregation: "count", field: undefined, overMs: 5 * MINUTE },
    { aggregation: "distinct_count", field: 1, overMs: 10 * MINUTE },
    { aggregation: "distinct_count", field: 2, overMs: 60 * MINUTE },
    { aggregation: "sum", field: 0, overMs: 10 * MINUTE },
    { aggregation: "mean", field: 0, overMs: 60 * MINUTE },
    { aggregation: "min", field: 0, overMs: 30 * MINUTE },
    { aggregation: "max", field: 0, overMs: 30 * MINUTE },
    // Long enough to hold more rows than a push looks back for its string.
    { aggregation: "distinct_count", field: 1, overMs: 24 * 60 * MINUTE },
  ],
  trackedFields: ["amount", "merchant", "country"],
  sincePrevious: true,
  windowHorizonMs: 60 * MINUTE,
  previousHorizonMs: 60 * MINUTE,
};

/** The windows of an event at (`offset`, `time`) computed from the log's rows one by one. */
function reference(log: EntityLog, offset: number, time: number): number[] {
  return plan.windows.map((window) => {
    const rows: number[] = [];
    for (let row = 0; row < log.length; row++) {
      const t = log.time(row);
      if (log.offset(row) <= offset && t > time - window.overMs && t <= time) rows.push(row);
    }
    if (window.aggregation === "count") return rows.length;
    const values = rows.map((row) => log.value(row, window.field!));
    if (window.aggregation === "distinct_count") return new Set(values).size;
    const numbers = values as number[];
    const sum = numbers.reduce((a, b) => a + b, 0);
    switch (window.aggregation) {
      case "sum":
        return sum;
      case "mean":
        return sum / numbers.length;
      case "min":
        return Math.min(...numbers);
      default:
        return Math.max(...numbers);
    }
  });
}

function answer(log: EntityLog, offset: number, time: number): number[] {
  const out = new Float64Array(plan.windows.length);
  log.answer(offset, time, out, 0);
  return [...out];
}

describe("EntityLog", () => {
  it("answers every window as the rows one by one do, through growth, prunes and out-of-order times", () => {
    let seed = 11;
    const random = (n: number): number => (seed = (seed * 48271) % 0x7fffffff) % n;
    for (let round = 0; round < 40; round++) {
      const log = new EntityLog(layoutOf(plan));
      let offset = 0;
      let time = 1_700_000_000_000;
      // Some rounds keep times in order (binary search), the others let a time go back.
      const disorder = round % 2 === 0 ? 0 : 4;
      for (let event = 0; event < 200; event++) {
        offset += 1 + random(3);
        time += random(4) === 0 && disorder > 0 ? -random(20) * MINUTE : random(3) * MINUTE;
        // Few merchants (the same one a few rows back) or many (further back than a push looks).
        const values = [random(50), `m-${random(round % 4 < 2 ? 6 : 100)}`, `c-${random(3)}`];
        // A replay asks about an earlier offset, from the rows as they stand.
        const asked = random(5) === 0 && log.length > 0 ? log.offset(random(log.length)) : offset;
        if (asked === offset) log.push(offset, time, values, 10);
        const askedTime = asked === offset ? time : log.time(log.length - 1);
        assert.deepEqual(
          answer(log, asked, askedTime),
          reference(log, asked, askedTime),
          `round ${round}, event ${event}, offset ${asked}`,
        );
        if (random(8) === 0) log.prune(time - random(round % 4 < 2 ? 90 : 400) * MINUTE);
      }
    }
  });

  it("counts distinct strings after prunes of rows out of time order and of the oldest rows", () => {
    const log = new EntityLog(layoutOf(plan));
    const t = 1_700_000_000_000;
    log.push(1, t - 100 * MINUTE, [1, "a", "x"], 10);
    log.push(2, t - 90 * MINUTE, [2, "b", "x"], 10);
    log.push(3, t - 95 * MINUTE, [3, "a", "y"], 10);
    log.push(4, t - 94 * MINUTE, [4, "c", "y"], 10);
    log.push(5, t, [5, "c", "x"], 10);
    assert.equal(log.ordered, false);
    // Rows 1-3 go (row 4 stays: the previous event of row 5), in time order again.
    assert.equal(log.prune(t - 61 * MINUTE), 3);
    assert.equal(log.ordered, true);
    log.push(6, t + MINUTE, [6, "a", "z"], 10);
    log.push(7, t + 2 * MINUTE, [7, "c", "x"], 10);
    assert.deepEqual(answer(log, 7, t + 2 * MINUTE), reference(log, 7, t + 2 * MINUTE));
    assert.equal(answer(log, 7, t + 2 * MINUTE)[1], 2, "c and a in 10 minutes");
    assert.equal(answer(log, 7, t + 2 * MINUTE)[2], 2, "x and z in an hour");
    // In order: row 4 and row 5 go, row 6 stays as row 7's previous event.
    assert.equal(log.prune(t + 1.5 * MINUTE), 2);
    assert.deepEqual(answer(log, 7, t + 2 * MINUTE), reference(log, 7, t + 2 * MINUTE));
    assert.deepEqual(answer(log, 7, t + 2 * MINUTE).slice(1, 3), [2, 2]);
  });
});
