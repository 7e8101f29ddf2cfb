import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { seededRandom, configProblem } from "@sluice/testing";
import { parseRolloutConfig } from "./rollout-config.js";
import { RolloutRouter, movedShare, segmentOf } from "./rollout-router.js";

/** `n` random user ids from a seeded source. */
function userIds(n: number, seed = 7): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => `u-${Math.floor(random() * 1e12).toString(36)}`);
}

function router(arms: [string, number | string, number][], extra: Record<string, unknown> = {}) {
  const config = parseRolloutConfig(
    { arms: arms.map(([name, version, weight]) => ({ name, version, weight })), ...extra },
    "fraud",
  );
  return new RolloutRouter(config);
}

/** Chi-square critical values at p = 0.001 by degrees of freedom. */
const CHI2_999: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27 };

function chiSquare(counts: readonly number[], weights: readonly number[], n: number): number {
  return counts.reduce((sum, count, i) => {
    const expected = (n * weights[i]!) / 100;
    return sum + (count - expected) ** 2 / expected;
  }, 0);
}

describe("RolloutRouter", () => {
  it("honours the weights within statistical bounds (chi-square at p = 0.001, binomial 4σ per arm)", () => {
    const keys = userIds(100_000);
    for (const weights of [
      [90, 10],
      [70, 20, 10],
      [50, 49.5, 0.5],
    ]) {
      const r = router(weights.map((w, i) => [`arm${i}`, i + 1, w]));
      const counts = new Array<number>(weights.length).fill(0);
      for (const key of keys) counts[r.armFor(key)]!++;
      const chi2 = chiSquare(counts, weights, keys.length);
      assert.ok(
        chi2 < CHI2_999[weights.length - 1]!,
        `chi-square ${chi2} for ${weights.join("/")}: ${counts.join(", ")}`,
      );
      weights.forEach((w, i) => {
        const p = w / 100;
        const sigma = Math.sqrt(keys.length * p * (1 - p));
        assert.ok(
          Math.abs(counts[i]! - keys.length * p) <= 4 * sigma,
          `arm ${i}: ${counts[i]} for ${w} %`,
        );
      });
    }
  });

  it("is sticky: a key gets the same arm every time, from every router built from the same config", () => {
    const a = router([
      ["stable", "stable", 80],
      ["canary", 2, 20],
    ]);
    const b = router([
      ["stable", "stable", 80],
      ["canary", 2, 20],
    ]);
    for (const key of userIds(5_000)) {
      const arm = a.armFor(key);
      assert.equal(a.armFor(key), arm);
      assert.equal(b.armFor(key), arm);
    }
  });

  it("moves only the users a ramp needs: 10 % → 20 % moves exactly the buckets 8000-8999, stable → canary", () => {
    const before = router([
      ["stable", "stable", 90],
      ["canary", 2, 10],
    ]);
    const after = router([
      ["stable", "stable", 80],
      ["canary", 2, 20],
    ]);
    assert.equal(movedShare(before, after), 0.1);
    let moved = 0;
    const keys = userIds(50_000);
    for (const key of keys) {
      const a = before.armFor(key);
      const b = after.armFor(key);
      if (a !== b) {
        moved++;
        assert.deepEqual([a, b], [0, 1], "only stable → canary");
        const bucket = before.bucketOf(key);
        assert.ok(bucket >= 8_000 && bucket < 9_000, `bucket ${bucket}`);
      }
    }
    const sigma = Math.sqrt(keys.length * 0.1 * 0.9);
    assert.ok(Math.abs(moved - keys.length * 0.1) < 4 * sigma, `${moved} moved`);
  });

  it("moves the minimum (the total variation) when adjacent arms trade weight, more when an arm sits between", () => {
    const a = router([
      ["ab", 3, 10],
      ["canary", 2, 10],
      ["stable", 1, 80],
    ]);
    const ramp = router([
      ["ab", 3, 10],
      ["canary", 2, 30],
      ["stable", 1, 60],
    ]);
    assert.equal(movedShare(a, ramp), 0.2); // total variation: 20 points from stable to canary
    // The same change with canary first and the A/B arm between it and stable moves the A/B arm's
    // users along too.
    const b = router([
      ["canary", 2, 10],
      ["ab", 3, 10],
      ["stable", 1, 80],
    ]);
    const rampB = router([
      ["canary", 2, 30],
      ["ab", 3, 10],
      ["stable", 1, 60],
    ]);
    assert.equal(movedShare(b, rampB), 0.3);
  });

  it("estimates the share a new salt moves as 1 − Σ w·w'", () => {
    const a = router([
      ["stable", 1, 90],
      ["canary", 2, 10],
    ]);
    const b = router(
      [
        ["stable", 1, 90],
        ["canary", 2, 10],
      ],
      { salt: "again" },
    );
    assert.ok(Math.abs(movedShare(a, b) - (1 - 0.81 - 0.01)) < 1e-12);
  });

  it("rolls an arm back to the primary: only its users move", () => {
    const r = router([
      ["stable", 1, 70],
      ["canary", 2, 20],
      ["other", 3, 10],
    ]);
    const back = r.withRollback("canary");
    assert.deepEqual(back.weights(), [9_000, 0, 1_000]);
    assert.equal(movedShare(r, back), 0.2);
    for (const key of userIds(5_000)) {
      const before = r.armFor(key);
      assert.equal(back.armFor(key), before === 1 ? 0 : before);
    }
    assert.equal(back.withRollback("canary"), back);
    assert.throws(() => r.withRollback("nope"), /no such arm/);
  });

  it("rolls back to a primary that is not first", () => {
    const r = router(
      [
        ["canary", 2, 10],
        ["stable", 1, 90],
      ],
      { primary: "stable" },
    );
    assert.deepEqual(r.withRollback("canary").weights(), [0, 10_000]);
  });

  it("uses a segment's own weights, and the default ones for other values", () => {
    const r = router(
      [
        ["stable", 1, 100],
        ["canary", 2, 0],
      ],
      {
        segments: { field: "channel", weights: { web: { stable: 50, canary: 50 } } },
      },
    );
    const keys = userIds(20_000);
    let webCanary = 0;
    for (const key of keys) {
      assert.equal(r.armFor(key), 0);
      assert.equal(r.armFor(key, "pos"), 0);
      if (r.armFor(key, "web") === 1) webCanary++;
    }
    assert.ok(
      Math.abs(webCanary - 10_000) < 4 * Math.sqrt(5_000),
      `${webCanary} web users on canary`,
    );
    assert.deepEqual(r.weights("web"), [5_000, 5_000]);
    assert.deepEqual(r.segmentValues, ["web"]);
  });

  it("plans a micro-batch: one group per arm with rows, the arm of each row, the shadow's rows", () => {
    const r = router(
      [
        ["stable", "stable", 50],
        ["canary", 2, 50],
      ],
      {
        shadow: { version: 3, share: 25 },
      },
    );
    const keys = userIds(4_000);
    const plan = r.plan(keys);
    assert.equal(plan.groups.length, 2);
    assert.deepEqual(
      plan.groups.map((g) => [g.name, g.version]),
      [
        ["stable", "stable"],
        ["canary", 2],
      ],
    );
    const seen = new Set<number>();
    for (const group of plan.groups) {
      for (const row of group.rows) {
        assert.equal(plan.arms[row], group.arm);
        assert.equal(r.armFor(keys[row]!), group.arm);
        seen.add(row);
      }
      assert.ok(
        group.rows.every((row, i) => i === 0 || row > group.rows[i - 1]!),
        "ascending",
      );
    }
    assert.equal(seen.size, keys.length);
    for (const row of plan.shadowRows) assert.ok(r.shadows(keys[row]!));
    const share = plan.shadowRows.length / keys.length;
    assert.ok(
      Math.abs(share - 0.25) < 4 * Math.sqrt((0.25 * 0.75) / keys.length),
      `shadow share ${share}`,
    );
    // The shadow's sample is independent of the arms: about a quarter of each.
    const shadowCanary = [...plan.shadowRows].filter((row) => plan.arms[row] === 1).length;
    assert.ok(Math.abs(shadowCanary / plan.shadowRows.length - 0.5) < 0.06);
  });

  it("plans an empty batch and a batch that all goes to one arm", () => {
    const r = router([
      ["stable", 1, 100],
      ["canary", 2, 0],
    ]);
    assert.deepEqual(r.plan([]).groups, []);
    const plan = r.plan(["a", "b", "c"]);
    assert.equal(plan.groups.length, 1);
    assert.deepEqual([...plan.groups[0]!.rows], [0, 1, 2]);
    assert.equal(plan.shadowRows.length, 0);
  });

  it("reads segment values from a decoded event", () => {
    assert.equal(segmentOf({ channel: "web" }, "channel"), "web");
    assert.equal(segmentOf({ user: { tier: 2 } }, "user.tier"), "2");
    assert.equal(segmentOf({ channel: null }, "channel"), undefined);
    assert.equal(segmentOf("text", "channel"), undefined);
  });
});

describe("parseRolloutConfig", () => {
  function problems(section: unknown): string {
    return configProblem(() => parseRolloutConfig(section, "fraud"));
  }

  it("fills defaults: the pipeline's name as salt, the first arm as primary, a full shadow", () => {
    const config = parseRolloutConfig(
      {
        arms: [
          { name: "stable", version: "stable", weight: 87.5 },
          { name: "canary", version: 2, weight: 12.5 },
        ],
        shadow: { version: 3 },
        guard_rails: { arm: "canary", error_rate: { max: 0.02 } },
      },
      "fraud",
    );
    assert.equal(config.salt, "fraud");
    assert.equal(config.primary, 0);
    assert.deepEqual(config.weightsBp, [8_750, 1_250]);
    assert.deepEqual(config.shadow, {
      version: 3,
      shareBp: 10_000,
      deadlineMs: 500,
      topic: undefined,
    });
    assert.equal(config.guardRails?.arm, "canary");
    assert.equal(config.guardRails?.limits.maxErrorRate, 0.02);
    assert.equal(config.guardRails?.limits.minEvents, 1_000);
    assert.deepEqual(config.guardRails?.window, { kind: "time", durationMs: 600_000, slices: 10 });
  });

  it("names the path and what was expected in every message", () => {
    assert.equal(
      problems({ arms: [{ name: "stable", version: 1, weight: 95 }] }),
      "pipeline.rollout.arms: expected weights summing to 100 (%), got 95",
    );
    assert.equal(
      problems({
        arms: [
          { name: "stable", version: 1, weight: 10.005 },
          { name: "c", version: 2, weight: 89.995 },
        ],
      }),
      [
        "pipeline.rollout.arms[0].weight: expected a percentage from 0 to 100 in steps of 0.01, got 10.005",
        "pipeline.rollout.arms[1].weight: expected a percentage from 0 to 100 in steps of 0.01, got 89.995",
      ].join("\n"),
    );
    assert.match(
      problems({
        arms: [
          { name: "a", version: 1, weight: 50 },
          { name: "a", version: 2, weight: 50 },
        ],
      }),
      /^pipeline\.rollout\.arms\[1\]\.name: expected a name no other arm has, got "a" again$/,
    );
    assert.match(
      problems({
        arms: [{ name: "stable", version: 1, weight: 100 }],
        segments: { field: "country", weights: { FR: { stabel: 100 } } },
      }),
      /pipeline\.rollout\.segments\.weights\.FR\.stabel: expected an arm name \(stable\), got "stabel"/,
    );
    assert.match(
      problems({
        arms: [{ name: "stable", version: 1, weight: 100 }],
        segments: { field: "country", weights: { FR: { stable: 60 } } },
      }),
      /pipeline\.rollout\.segments\.weights\.FR: expected weights summing to 100 \(%\), got 60/,
    );
    assert.match(
      problems({
        arms: [{ name: "stable", version: 1, weight: 100 }],
        guard_rails: { arm: "stable" },
      }),
      /pipeline\.rollout\.guard_rails\.arm: expected an arm other than the primary \("stable"\)/,
    );
    assert.match(
      problems({ arms: [{ name: "stable", version: "no spaces", weight: 100 }] }),
      /pipeline\.rollout\.arms\[0\]\.version: expected a version number or a label like "stable", got "no spaces"/,
    );
    assert.match(
      problems({
        arms: [{ name: "stable", version: 1, weight: 100 }],
        shadow: { version: 2, deadline_ms: 0 },
      }),
      /pipeline\.rollout\.shadow\.deadline_ms: expected a positive integer, got 0/,
    );
    assert.match(
      problems({
        arms: [
          { name: "s", version: 1, weight: 50 },
          { name: "c", version: 2, weight: 50 },
        ],
        guard_rails: { arm: "c", window: { events: 100, duration: "1h" } },
      }),
      /pipeline\.rollout\.guard_rails\.window: expected either events \(a count\) or duration \(like "1h"\), got both/,
    );
    assert.match(problems({ arms: [], extra: 1 }), /pipeline\.rollout: unknown key "extra"/);
  });
});
