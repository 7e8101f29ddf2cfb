import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { ConsumerError } from "../errors.js";
import type { StatePlan, StoreEvent, StoreResponse } from "../ports/feature-store.js";
import {
  deleteKeys,
  freePort,
  startTestRedis,
  uniquePrefix,
  type TestRedis,
} from "@sluice/testing";
import { DEFAULT_RETENTION_SLACK_MS, RedisFeatureStore } from "./redis-feature-store.js";

const T0 = Date.parse("2024-03-07T12:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** count 5m, sum 5m, mean 1h, min 1h, max 1h, distinct merchants 1h, and the previous event. */
const PLAN: StatePlan = {
  windows: [
    { aggregation: "count", field: undefined, overMs: 5 * MIN },
    { aggregation: "sum", field: 0, overMs: 5 * MIN },
    { aggregation: "mean", field: 0, overMs: HOUR },
    { aggregation: "min", field: 0, overMs: HOUR },
    { aggregation: "max", field: 0, overMs: HOUR },
    { aggregation: "distinct_count", field: 1, overMs: HOUR },
  ],
  trackedFields: ["number:amount", "string:merchant"],
  sincePrevious: true,
  windowHorizonMs: HOUR,
  previousHorizonMs: 7 * DAY,
};
const W = PLAN.windows.length;

function event(
  entity: string,
  eventTime: number,
  offset: number,
  amount = 1,
  merchant = "m1",
  partition = 0,
): StoreEvent {
  return { entity, eventTime, partition, offset: String(offset), values: [amount, merchant] };
}

/** Per event: { count5m, sum5m, mean1h, min1h, max1h, distinct1h, previous }. */
function answers(response: StoreResponse) {
  return response.previousEventTimes.map((previous, i) => {
    const v = Array.from(response.windowValues.subarray(i * W, (i + 1) * W));
    return {
      count5m: v[0],
      sum5m: v[1],
      mean1h: v[2],
      min1h: v[3],
      max1h: v[4],
      distinct1h: v[5],
      previous,
    };
  });
}

/** Every key under the prefix with its members and scores: the whole state. */
async function snapshot(client: Redis, prefix: string): Promise<Record<string, string[]>> {
  const keys = await client.keys(`${prefix}*`);
  const state: Record<string, string[]> = {};
  for (const key of keys.sort()) state[key] = await client.zrange(key, "0", "-1", "WITHSCORES");
  return state;
}

describe("RedisFeatureStore", () => {
  let redis: TestRedis;
  let store: RedisFeatureStore;
  let prefix: string;

  before(async () => {
    redis = await startTestRedis();
    prefix = uniquePrefix();
    store = await RedisFeatureStore.connect(redis.url, { keyPrefix: prefix });
  });
  after(async () => {
    await store?.close();
    if (redis) await deleteKeys(redis.client, `${prefix}*`);
    await redis?.stop();
  });

  const apply = (events: StoreEvent[], plan: StatePlan = PLAN) =>
    store.apply({ plan, events, lookups: [] });

  it("windows are (t − W, t]: an event exactly W old is out, one a millisecond younger is in", async () => {
    const response = await apply([
      event("edge", T0, 0, 10),
      event("edge", T0 + 1, 1, 20),
      event("edge", T0 + 5 * MIN, 2, 40),
    ]);
    const [first, second, third] = answers(response);
    assert.deepEqual(first, {
      count5m: 1,
      sum5m: 10,
      mean1h: 10,
      min1h: 10,
      max1h: 10,
      distinct1h: 1,
      previous: undefined,
    });
    assert.equal(second?.count5m, 2);
    assert.equal(second?.previous, T0);
    // T0 is exactly 5 minutes before the third event: out of its 5-minute window, in its hour.
    assert.deepEqual(third, {
      count5m: 2,
      sum5m: 60,
      mean1h: 70 / 3,
      min1h: 10,
      max1h: 40,
      distinct1h: 1,
      previous: T0 + 1,
    });
  });

  it("events of one batch see the entity's earlier events in stream order, whatever the batch order", async () => {
    // Offsets 12, 10, 11 of one partition at the same instant, interleaved with another entity.
    const response = await apply([
      event("busy", T0, 12, 3, "m3"),
      event("other", T0, 13, 100),
      event("busy", T0, 10, 1, "m1"),
      event("busy", T0, 11, 2, "m2"),
    ]);
    const [o12, other, o10, o11] = answers(response);
    assert.deepEqual([o10?.count5m, o11?.count5m, o12?.count5m], [1, 2, 3]);
    assert.deepEqual([o10?.sum5m, o11?.sum5m, o12?.sum5m], [1, 3, 6]);
    assert.deepEqual([o10?.distinct1h, o11?.distinct1h, o12?.distinct1h], [1, 2, 3]);
    assert.deepEqual([o10?.previous, o11?.previous, o12?.previous], [undefined, T0, T0]);
    assert.equal(other?.count5m, 1);
  });

  it("a later batch sees earlier batches; an out-of-order event sees only earlier offsets", async () => {
    await apply([event("late", T0 + 10 * MIN, 0, 5)]);
    // Offset 1 happened 2 minutes *before* offset 0 in event time: offset 0 is in the stream
    // before it but not in its (t − 5m, t] window, since its time is later than t.
    const [late] = answers(await apply([event("late", T0 + 8 * MIN, 1, 7)]));
    assert.equal(late?.count5m, 1);
    assert.equal(late?.previous, T0 + 10 * MIN);
  });

  it("replaying the same offsets changes no state and answers exactly as the first time", async () => {
    const first = [0, 1, 2, 3, 4].map((i) =>
      event("replay", T0 + i * MIN, 100 + i, i + 1, `m${i % 2}`),
    );
    const second = [5, 6, 7].map((i) => event("replay", T0 + i * MIN, 100 + i, i + 1, `m${i}`));
    const firstAnswers = answers(await apply(first));
    const secondAnswers = answers(await apply(second));
    const state = await snapshot(redis.client, prefix);

    // Crash before commit: both batches come again, the first one split differently.
    assert.deepEqual(answers(await apply(first.slice(0, 2))), firstAnswers.slice(0, 2));
    assert.deepEqual(answers(await apply([...first.slice(2), ...second])), [
      ...firstAnswers.slice(2),
      ...secondAnswers,
    ]);
    assert.deepEqual(await snapshot(redis.client, prefix), state);
  });

  it("sets TTLs of the longest window (or since_previous cap) plus slack on every key", async () => {
    await apply([event("ttl", T0, 0)]);
    const keys = await redis.client.keys(`${prefix}*{ttl}*`);
    assert.equal(keys.length, 2);
    for (const key of keys) {
      const ttl = await redis.client.pttl(key);
      const expected = (key.includes(":w:") ? HOUR : 7 * DAY) + DEFAULT_RETENTION_SLACK_MS;
      assert.ok(
        ttl > expected - 10_000 && ttl <= expected,
        `${key}: pttl ${ttl}, expected ≈ ${expected}`,
      );
    }
  });

  it("prunes members no window can reach, but keeps the latest previous event", async () => {
    const plan: StatePlan = { ...PLAN, previousHorizonMs: HOUR };
    await apply([event("prune", T0, 0), event("prune", T0 + MIN, 1)], plan);
    // 3 hours later: the window horizon (1 h + 1 h slack) drops both old members.
    const [later] = answers(await apply([event("prune", T0 + 3 * HOUR, 2)], plan));
    assert.equal(later?.previous, T0 + MIN);
    const [windowKey] = await redis.client.keys(`${prefix}*:w:{prune}`);
    const [previousKey] = await redis.client.keys(`${prefix}*:p:{prune}:0`);
    assert.equal(await redis.client.zcard(windowKey!), 1);
    assert.deepEqual(await redis.client.zrange(previousKey!, "0", "-1"), [`2:${T0 + 3 * HOUR}`]);
    // Long after: the latest event stays the previous one, however old.
    const [muchLater] = answers(await apply([event("prune", T0 + 30 * HOUR, 3)], plan));
    assert.equal(muchLater?.previous, T0 + 3 * HOUR);
  });

  it("keeps tracked strings intact, separators and all", async () => {
    const [, second] = answers(
      await apply([event("text", T0, 0, 1, "a\x1fb"), event("text", T0, 1, 1, "a\\u b:c")]),
    );
    assert.equal(second?.distinct1h, 2);
  });

  it("keeps partitions apart for the previous event and counts other partitions by time", async () => {
    const [p0, p1] = answers(
      await apply([event("split", T0, 5, 1, "m", 0), event("split", T0 + 1, 5, 1, "m", 1)]),
    );
    assert.equal(p0?.previous, undefined);
    assert.equal(p1?.previous, undefined);
    assert.equal(p1?.count5m, 2);
  });

  it("reads lookups in the same script; a missing record is null", async () => {
    await redis.client.hset(`${prefix}user:1`, { home_country: "NG" });
    const response = await store.apply({
      plan: PLAN,
      events: [event("lookups", T0, 0)],
      lookups: [
        { key: `${prefix}user:1`, field: "home_country" },
        { key: `${prefix}user:1`, field: "nope" },
        { key: `${prefix}user:2`, field: "home_country" },
      ],
    });
    assert.deepEqual(response.lookups, ["NG", null, null]);
    assert.equal(response.windowValues[0], 1);
  });

  it("sends one command per batch, whatever its size", async () => {
    const monitor = await redis.client.monitor();
    const seen: string[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (source !== "lua") seen.push(String(args[0]).toLowerCase());
    });
    try {
      const events = Array.from({ length: 300 }, (_, i) =>
        event(`rt${i % 40}`, T0 + i * 1000, 1000 + i),
      );
      await redis.client.echo("mark-start");
      await store.apply({
        plan: PLAN,
        events,
        lookups: [{ key: `${prefix}user:1`, field: "home_country" }],
      });
      await redis.client.echo("mark-end");
      while (!seen.includes("echo") || seen.filter((c) => c === "echo").length < 2) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const between = seen.slice(seen.indexOf("echo") + 1, seen.lastIndexOf("echo"));
      assert.deepEqual(between, ["evalsha"]);
    } finally {
      monitor.disconnect();
    }
  });

  it("reloads the script after Redis lost it (restart, SCRIPT FLUSH)", async () => {
    await redis.client.script("FLUSH");
    const [answer] = answers(await apply([event("flushed", T0, 0)]));
    assert.equal(answer?.count5m, 1);
  });

  it("keys state by the plan's layout: a spec recording other values starts fresh", async () => {
    await apply([event("layout", T0, 0)]);
    const other: StatePlan = { ...PLAN, trackedFields: ["number:amount", "string:merchant_id"] };
    const [answer] = answers(await apply([event("layout", T0 + 1, 1)], other));
    assert.equal(answer?.count5m, 1);
  });
});

describe("RedisFeatureStore when Redis is down", () => {
  it("fails to connect with a retryable store_unavailable", async () => {
    const port = await freePort();
    await assert.rejects(
      RedisFeatureStore.connect(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 500 }),
      (error: unknown) => {
        assert.ok(ConsumerError.is(error, "store_unavailable"));
        assert.equal(error.retryable, true);
        assert.match(
          error.message,
          new RegExp(`cannot connect to redis://127\\.0\\.0\\.1:${port}`),
        );
        return true;
      },
    );
  });

  it("fails a batch with a retryable store_unavailable when Redis dies, and recovers when it is back", async () => {
    const own = await startTestRedis({ own: true });
    const store = await RedisFeatureStore.connect(own.url, { keyPrefix: uniquePrefix() });
    try {
      await store.apply({ plan: PLAN, events: [event("down", T0, 0)], lookups: [] });
      await own.kill();
      await assert.rejects(
        store.apply({ plan: PLAN, events: [event("down", T0 + 1, 1)], lookups: [] }),
        (error: unknown) => {
          assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
          assert.equal(error.retryable, true);
          assert.match(error.message, /feature store \(redis 127\.0\.0\.1:\d+\) failed a batch: /);
          return true;
        },
      );
      // Back on the same port: ioredis reconnects on its own and the retried batch succeeds.
      await own.restart();
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          const response = await store.apply({
            plan: PLAN,
            events: [event("down", T0 + 2, 2)],
            lookups: [],
          });
          assert.equal(response.windowValues[0], 1); // a fresh Redis: the old state is gone
          break;
        } catch (error) {
          assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      await store.close();
      await own.stop();
    }
  });
});
