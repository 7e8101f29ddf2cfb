import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SlicedWindow } from "./sliced-window.js";

describe("SlicedWindow", () => {
  it("by events: holds the last N − N/S … N events, dropping a whole slice at a time", () => {
    const window = new SlicedWindow(1, { kind: "events", events: 100, slices: 4 });
    for (let i = 1; i <= 100; i++) window.add(0, (window.beginEvent(i), i));
    assert.equal(window.extent(100).events, 100);
    assert.equal(window.totals(100)[0], 5050);
    // Event 101 opens a new slice, which drops events 1-25.
    window.beginEvent(101);
    window.add(0, 101);
    assert.deepEqual(window.extent(101), { events: 76, from: 26, to: 101 });
    assert.equal(window.totals(101)[0], 5050 - 325 + 101);
  });

  it("by time: slices of D/S; a slice older than the window is dropped when read", () => {
    const window = new SlicedWindow(2, { kind: "time", durationMs: 1_000, slices: 10 });
    window.beginEvent(50);
    window.add(0, 1);
    window.beginEvent(950);
    window.add(1, 1);
    assert.deepEqual([...window.totals(999)], [1, 1]);
    // At 1000 the slice [0, 100) is out of the last 10 slices: [100, 1100).
    assert.deepEqual([...window.totals(1_000)], [0, 1]);
    assert.deepEqual(window.extent(1_000), { events: 1, from: 950, to: 950 });
    // Nothing for a long time, then one event: the ring slot is reused, the old slice forgotten.
    window.beginEvent(5_955);
    window.add(0, 7);
    assert.deepEqual([...window.totals(5_955)], [7, 0]);
    assert.deepEqual(window.extent(7_000), { events: 0, from: Number.NaN, to: Number.NaN });
  });

  it("by time: a clock that steps back adds to the newest slice", () => {
    const window = new SlicedWindow(1, { kind: "time", durationMs: 1_000, slices: 10 });
    window.beginEvent(2_050);
    window.add(0, 1);
    window.beginEvent(1_000); // an older slice would share the ring slot of 2_000
    window.add(0, 1);
    assert.equal(window.totals(2_050)[0], 2);
  });

  it("counts a group of events in one slice", () => {
    const window = new SlicedWindow(1, { kind: "events", events: 100, slices: 10 });
    window.beginEvent(1, 64);
    window.add(0, 64);
    window.beginEvent(2, 64); // the slice is full (64 ≥ 10): a new one
    window.add(0, 64);
    assert.equal(window.extent(2).events, 128);
    window.clear();
    assert.equal(window.extent(2).events, 0);
    assert.equal(window.totals(2)[0], 0);
  });

  it("refuses a window it cannot keep", () => {
    assert.throws(() => new SlicedWindow(0, { kind: "events", events: 10, slices: 2 }), /width/);
    assert.throws(() => new SlicedWindow(1, { kind: "events", events: 0, slices: 2 }), /events/);
    assert.throws(
      () => new SlicedWindow(1, { kind: "time", durationMs: 0, slices: 2 }),
      /duration/,
    );
    assert.throws(() => new SlicedWindow(1, { kind: "time", durationMs: 10, slices: 0 }), /slices/);
  });
});
