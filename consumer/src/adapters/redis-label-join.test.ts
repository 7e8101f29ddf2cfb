import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "@sluice/kit";
import { deleteKeys, startTestRedis, uniquePrefix, type TestRedis } from "@sluice/testing";
import { ConsumerError } from "../errors.js";
import type { LabelEntry, PredictionEntry } from "../ports/label-join.js";
import { RedisLabelJoin } from "./redis-label-join.js";

function prediction(id: string, overrides: Partial<PredictionEntry> = {}): PredictionEntry {
  return {
    id,
    model: "fraud",
    version: "2",
    arm: "canary",
    score: 0.83,
    predictedAt: 1_000,
    source: `transactions/0/${id}`,
    ...overrides,
  };
}

function label(id: string, value: number, overrides: Partial<LabelEntry> = {}): LabelEntry {
  return { id, label: value, labelledAt: 9_000, source: `labels/0/${id}`, ...overrides };
}

describe("RedisLabelJoin", () => {
  let redis: TestRedis;
  let prefix: string;
  let store: RedisLabelJoin;

  before(async () => {
    redis = await startTestRedis();
    prefix = uniquePrefix();
    store = await RedisLabelJoin.connect(redis.url, { keyPrefix: prefix });
  });

  after(async () => {
    await store?.close();
    if (redis !== undefined) await deleteKeys(redis.client, `${prefix}*`);
    await redis?.stop();
  });

  it("joins a label to its prediction, once, and gives the same pair again to a replay of the same label", async () => {
    assert.deepEqual(await store.recordPredictions([prediction("a")]), {
      joined: [],
      waiting: 1,
      duplicates: 0,
      conflicts: 0,
    });
    const first = await store.recordLabels([label("a", 1)]);
    const pair = {
      id: "a",
      model: "fraud",
      version: "2",
      arm: "canary",
      score: 0.83,
      predictedAt: 1_000,
      label: 1,
      labelledAt: 9_000,
    };
    assert.deepEqual(first, {
      joined: [{ ...pair, replay: false }],
      waiting: 0,
      duplicates: 0,
      conflicts: 0,
    });
    // The same label message again (a replayed micro-batch): the same pair, marked as a replay.
    assert.deepEqual((await store.recordLabels([label("a", 1)])).joined, [
      { ...pair, replay: true },
    ]);
    // Another message with the same label: joins nothing.
    const duplicate = await store.recordLabels([label("a", 1, { source: "labels/1/5" })]);
    assert.deepEqual([duplicate.joined.length, duplicate.duplicates], [0, 1]);
    // A replay of the prediction: the join is the label's, not the prediction's.
    const replayedPrediction = await store.recordPredictions([prediction("a", { version: "1" })]);
    assert.deepEqual([replayedPrediction.joined.length, replayedPrediction.duplicates], [0, 1]);
  });

  it("keeps a label that comes first until its prediction, which then completes the join", async () => {
    assert.equal((await store.recordLabels([label("b", 0)])).waiting, 1);
    // The same label message replayed while it waits is still just waiting.
    assert.equal((await store.recordLabels([label("b", 0)])).waiting, 1);
    const joined = await store.recordPredictions([prediction("b", { score: 0.1 })]);
    assert.equal(joined.joined.length, 1);
    assert.deepEqual(
      [joined.joined[0]!.label, joined.joined[0]!.score, joined.joined[0]!.replay],
      [0, 0.1, false],
    );
    assert.equal(
      (await store.recordPredictions([prediction("b", { score: 0.1 })])).joined[0]!.replay,
      true,
    );
    assert.equal((await store.recordLabels([label("b", 0)])).duplicates, 1);
  });

  it("keeps the first label: a different one for the same id is a conflict", async () => {
    await store.recordLabels([label("c", 0)]);
    const conflict = await store.recordLabels([label("c", 1, { source: "labels/0/99" })]);
    assert.deepEqual([conflict.conflicts, conflict.waiting], [1, 0]);
    const joined = await store.recordPredictions([prediction("c")]);
    assert.equal(joined.joined[0]!.label, 0);
  });

  it("joins a batch exactly under replay: every id once, the replay returns the same pairs", async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `batch-${i}`);
    // Half the labels before their predictions, half after.
    const early = ids.filter((_, i) => i % 2 === 0).map((id) => label(id, id.length % 2));
    const late = ids.filter((_, i) => i % 2 === 1).map((id) => label(id, id.length % 2));
    assert.equal((await store.recordLabels(early)).waiting, 250);
    const byPredictions = await store.recordPredictions(ids.map((id) => prediction(id)));
    assert.deepEqual([byPredictions.joined.length, byPredictions.waiting], [250, 250]);
    const byLabels = await store.recordLabels(late);
    assert.equal(byLabels.joined.length, 250);
    // Replaying both batches: the same 500 pairs, every one marked as a replay, nothing new.
    const replays = [
      ...(await store.recordPredictions(ids.map((id) => prediction(id)))).joined,
      ...(await store.recordLabels(late)).joined,
    ];
    assert.equal(replays.length, 500);
    assert.ok(replays.every((pair) => pair.replay));
    assert.deepEqual(new Set(replays.map((pair) => pair.id)), new Set(ids));
    assert.deepEqual(await store.recordLabels([]), {
      joined: [],
      waiting: 0,
      duplicates: 0,
      conflicts: 0,
    });
  });

  it("lays out three keys per id under one hash tag, each with the TTL", async () => {
    await store.recordPredictions([prediction("d")]);
    await store.recordLabels([label("d", 1)]);
    const [p, l, j] = store.keysOf("d");
    assert.equal(p, `${prefix}{d}:p`);
    assert.deepEqual(JSON.parse((await redis.client.get(p))!), {
      m: "fraud",
      v: "2",
      a: "canary",
      s: 0.83,
      t: 1_000,
      src: "transactions/0/d",
    });
    assert.deepEqual(JSON.parse((await redis.client.get(l))!), {
      y: 1,
      t: 9_000,
      src: "labels/0/d",
    });
    assert.equal(await redis.client.get(j), "l:labels/0/d");
    for (const key of [p, l, j]) {
      const ttl = await redis.client.pttl(key);
      assert.ok(ttl > 29 * 24 * 3_600_000 && ttl <= store.ttlMs, `${key}: ${ttl} ms`);
    }
  });

  it("stores each prediction as the JSON of its fields, whatever the names hold, several arms in one batch", async () => {
    const odd = {
      model: 'fr"aud\\',
      version: "2\n",
      arm: "<a>\u0000é",
      score: 1e-7,
      predictedAt: 1_700_000_000_123,
    };
    await store.recordPredictions([
      prediction("o1", odd),
      prediction("o2", { ...odd, arm: "stable" }),
      prediction("o3", odd),
      // The same arm answered by another version (a swap mid-batch).
      prediction("o4", { ...odd, version: "3" }),
    ]);
    for (const [id, arm, version] of [
      ["o1", odd.arm, odd.version],
      ["o2", "stable", odd.version],
      ["o3", odd.arm, odd.version],
      ["o4", odd.arm, "3"],
    ] as const) {
      const stored = (await redis.client.get(store.keysOf(id)[0]))!;
      const expected = { m: odd.model, v: version, a: arm, s: 1e-7, t: odd.predictedAt };
      assert.equal(stored, JSON.stringify({ ...expected, src: `transactions/0/${id}` }));
    }
  });

  it("forgets a side after its TTL: a label later than that waits alone", async () => {
    const short = new RedisLabelJoin(redis.client, { keyPrefix: `${prefix}short:`, ttlMs: 100 });
    await short.recordPredictions([prediction("e")]);
    await sleep(250);
    const late = await short.recordLabels([label("e", 1)]);
    assert.deepEqual([late.joined.length, late.waiting], [0, 1]);
    await short.close();
  });

  it("fails retryably when Redis is gone, and refuses a TTL that is not positive", async () => {
    const own = await startTestRedis({ own: true });
    const doomed = await RedisLabelJoin.connect(own.url, { commandTimeoutMs: 500 });
    await own.kill();
    await assert.rejects(doomed.recordLabels([label("f", 1)]), (error: unknown) => {
      assert.ok(ConsumerError.is(error, "store_unavailable"));
      assert.equal(error.retryable, true);
      return true;
    });
    await doomed.close();
    await own.stop();
    assert.throws(
      () => new RedisLabelJoin(redis.client, { ttlMs: 0 }),
      /ttlMs: expected a positive integer, got 0/,
    );
    await assert.rejects(
      RedisLabelJoin.connect("redis://127.0.0.1:1", { connectTimeoutMs: 300 }),
      /label join: cannot connect/,
    );
  });
});
