import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "commander";
import { SyntheticFraud, DRIFT_AMOUNT_FACTOR } from "@sluice/demo";
import { parseDriftAt } from "./produce.js";

describe("sluice produce --drift-at", () => {
  it("reads seconds (20, 20s, 1) or a share of the run (50%, 0.5)", () => {
    assert.deepEqual(parseDriftAt("20"), { seconds: 20 });
    assert.deepEqual(parseDriftAt("20s"), { seconds: 20 });
    assert.deepEqual(parseDriftAt("1"), { seconds: 1 });
    assert.deepEqual(parseDriftAt("0.5s"), { seconds: 0.5 });
    assert.deepEqual(parseDriftAt("50%"), { share: 0.5 });
    assert.deepEqual(parseDriftAt("0.25"), { share: 0.25 });
  });

  it("refuses anything else, saying what it expects", () => {
    for (const bad of ["", "soon", "-5", "150%", "5m"]) {
      assert.throws(
        () => parseDriftAt(bad),
        (error: unknown) =>
          error instanceof InvalidArgumentError &&
          error.message ===
            `expected seconds after the start (like 20 or 20s) or a share of the run (like 50% or 0.5), got "${bad}"`,
      );
    }
  });

  it("shifts ordinary payments: the same users, larger amounts, more on the web", () => {
    const calm = new SyntheticFraud({ seed: 7, fraudRatio: 0, users: 200 });
    const drifted = new SyntheticFraud({ seed: 7, fraudRatio: 0, users: 200 });
    const now = Date.parse("2026-01-01T12:00:00Z");
    const events = (g: SyntheticFraud, shifted: boolean) =>
      Array.from({ length: 2_000 }, () => g.next(now, shifted)).flatMap((r) =>
        r.kind === "event" ? [r.event] : [],
      );
    const a = events(calm, false);
    const b = events(drifted, true);
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const ratio = median(b.map((e) => e.amount)) / median(a.map((e) => e.amount));
    assert.ok(Math.abs(ratio - DRIFT_AMOUNT_FACTOR) < 1, `median amount ×${ratio}`);
    const web = (xs: typeof a) => xs.filter((e) => e.channel === "web").length / xs.length;
    assert.ok(web(b) > web(a) + 0.3, `web share ${web(a)} → ${web(b)}`);
  });
});
