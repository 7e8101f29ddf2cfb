import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { ConsumerError } from "../errors.js";
import type { StatePlan, StoreEvent, StoreResponse } from "../ports/feature-store.js";
import { layoutOf } from "../features/entity-log.js";
import {
  deleteKeys,
  freePort,
  startTestRedis,
  uniquePrefix,
  type TestRedis,
} from "@sluice/testing";
import { DEFAULT_RETENTION_SLACK_MS, RedisFeatureStore } from "./redis-feature-store.js";
import { decodeLog } from "./entity-log-codec.js";

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

/** Every key under the prefix with its bytes (hex): the whole state in Redis. */
async function snapshot(client: Redis, prefix: string): Promise<Record<string, string>> {
  const keys = await client.keys(`${prefix}*`);
  const state: Record<string, string> = {};
  for (const key of keys.sort()) state[key] = (await client.getBuffer(key))?.toString("hex") ?? "";
  return state;
}

/** The one key of `entity` (any partition) under `prefix`. */
async function keyOf(client: Redis, prefix: string, entity: string): Promise<string> {
  const keys = await client.keys(`${prefix}*{${entity}}*`);
  assert.equal(keys.length, 1, `one key for ${entity}: ${keys.join(", ")}`);
  return keys[0]!;
}

/** The rows Redis holds for `entity`: [offset, time, amount, merchant]. */
async function rowsIn(client: Redis, prefix: string, entity: string, plan = PLAN) {
  const log = decodeLog(
    layoutOf(plan),
    (await client.getBuffer(await keyOf(client, prefix, entity)))!,
  );
  return Array.from({ length: log.length }, (_, row) => [
    log.offset(row),
    log.time(row),
    log.value(row, 0),
    log.value(row, 1),
  ]);
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

  const apply = (events: StoreEvent[], plan: StatePlan = PLAN, on = store) =>
    on.apply({ plan, events, lookups: [] });

  /** Another member of the group: a store of its own on the same Redis and prefix. */
  async function member(options: { maxCachedEntities?: number; maxCachedBytes?: number } = {}) {
    return RedisFeatureStore.connect(redis.url, { keyPrefix: prefix, ...options });
  }

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
    // And an event after both, out of order in the stream, sees both by time.
    const [after] = answers(await apply([event("late", T0 + 11 * MIN, 2, 1)]));
    assert.deepEqual([after?.count5m, after?.sum5m, after?.previous], [3, 13, T0 + 8 * MIN]);
  });

  it("replaying the same offsets changes no state and answers exactly as the first time", async () => {
    const first = [0, 1, 2, 3, 4].map((i) =>
      event("replay", T0 + i * MIN, 100 + i, i + 1.1, `m${i % 2}`),
    );
    const second = [5, 6, 7].map((i) => event("replay", T0 + i * MIN, 100 + i, i + 1.1, `m${i}`));
    const firstAnswers = answers(await apply(first));
    const secondAnswers = answers(await apply(second));
    const state = await snapshot(redis.client, prefix);

    // Crash before commit: both batches come again, the first one split differently...
    assert.deepEqual(answers(await apply(first.slice(0, 2))), firstAnswers.slice(0, 2));
    assert.deepEqual(answers(await apply([...first.slice(2), ...second])), [
      ...firstAnswers.slice(2),
      ...secondAnswers,
    ]);
    assert.deepEqual(await snapshot(redis.client, prefix), state);

    // ...and on another member, which loads the state from Redis.
    const other = await member();
    try {
      assert.deepEqual(answers(await apply([...first, ...second], PLAN, other)), [
        ...firstAnswers,
        ...secondAnswers,
      ]);
      assert.deepEqual(await snapshot(redis.client, prefix), state);
    } finally {
      await other.close();
    }
  });

  it("the last two batches come again (a crash before their commits), one of them having rewritten the key: answered exactly, however they are cut", async () => {
    // The shape of the SIGKILL test's user whose replay once differed: events minutes apart, then
    // batches hours later. A partition delivers one batch while it processes the next, so a crash
    // replays both: the later one's prune must keep what the earlier one's events see.
    const before = Array.from({ length: 30 }, (_, i) =>
      event("rewritten", T0 + i * MIN, i, i + 0.5, `m${i % 3}`),
    );
    for (let i = 0; i < before.length; i += 3) await apply(before.slice(i, i + 3));
    const rewrites = store.counts.rewrites;
    const late = T0 + 29 * MIN + 3 * HOUR;
    const previous = [
      event("rewritten", late, 30, 7, "m1"),
      event("rewritten", late + MIN, 31, 9, "m4"),
    ];
    const last = [event("rewritten", late + 2 * MIN, 32, 5, "m2")];
    const first = answers(await apply(previous));
    assert.equal(store.counts.rewrites, rewrites, "the batch before stays whole");
    first.push(...answers(await apply(last)));
    assert.equal(store.counts.rewrites, rewrites + 1, "the last batch rewrote the key");
    // What is left: the previous event of the late batches, and the late batches.
    assert.deepEqual(
      (await rowsIn(redis.client, prefix, "rewritten")).map(([offset]) => offset),
      [29, 30, 31, 32],
    );
    assert.deepEqual(first[0], {
      count5m: 1,
      sum5m: 7,
      mean1h: 7,
      min1h: 7,
      max1h: 7,
      distinct1h: 1,
      previous: T0 + 29 * MIN,
    });
    const state = await snapshot(redis.client, prefix);

    // The member that takes over after the crash loads the rewritten key and replays both
    // batches, whole or cut otherwise: the same answers, nothing written.
    for (const cuts of [
      [previous, last],
      [previous.slice(0, 1), [...previous.slice(1), ...last]],
    ]) {
      const other = await member();
      try {
        const again = [];
        for (const cut of cuts) again.push(...answers(await apply(cut, PLAN, other)));
        assert.deepEqual(again, first);
      } finally {
        await other.close();
      }
    }
    assert.deepEqual(await snapshot(redis.client, prefix), state);
  });

  it("keeps one key per entity and partition, expiring after the longest horizon plus slack", async () => {
    await apply([event("ttl", T0, 0), event("ttl", T0, 0, 1, "m1", 1)]);
    const keys = await redis.client.keys(`${prefix}*{ttl}*`);
    assert.deepEqual(keys.map((key) => key.slice(key.lastIndexOf(":") + 1)).sort(), ["0", "1"]);
    for (const key of keys) {
      const ttl = await redis.client.pttl(key);
      const expected = 7 * DAY + DEFAULT_RETENTION_SLACK_MS;
      assert.ok(
        ttl > expected - 10_000 && ttl <= expected,
        `${key}: pttl ${ttl}, expected ≈ ${expected}`,
      );
    }
  });

  it("keeps partitions apart: an entity's state is its partition's", async () => {
    const [p0, p1] = answers(
      await apply([event("split", T0, 5, 1, "m", 0), event("split", T0 + 1, 5, 1, "m", 1)]),
    );
    assert.deepEqual([p0?.count5m, p0?.previous], [1, undefined]);
    assert.deepEqual([p1?.count5m, p1?.previous], [1, undefined]);
  });

  it("appends only what is new, in one command per batch once the entities are in memory", async () => {
    const monitor = await redis.client.monitor();
    const seen: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      // What the write script runs shows with its source "lua".
      const name = String(args[0]).toLowerCase();
      seen.push([source === "lua" ? `lua ${name}` : name, String(args[1]).toLowerCase()]);
    });
    let marks = 0;
    /** The commands `work` sent (and its script ran), by name, between two ECHO marks; and its round trips. */
    const between = async (work: () => Promise<unknown>) => {
      const [start, end] = [`start-${++marks}`, `end-${marks}`];
      const at = (tag: string) => seen.findIndex(([name, arg]) => name === "echo" && arg === tag);
      await redis.client.echo(start);
      const roundTrips = store.counts.roundTrips;
      await work();
      const trips = store.counts.roundTrips - roundTrips;
      await redis.client.echo(end);
      while (at(end) < 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const counts: Record<string, number> = {};
      for (const [name] of seen.slice(at(start) + 1, at(end))) {
        counts[name!] = (counts[name!] ?? 0) + 1;
      }
      return { counts, roundTrips: trips };
    };
    try {
      const batch = (from: number) =>
        Array.from({ length: 300 }, (_, i) =>
          event(`rt${i % 40}`, T0 + (from + i) * 1000, from + i),
        );
      // New entities: one MGET loads all 40, one command writes them with the batch's lookup.
      const cold = await between(() =>
        store.apply({
          plan: PLAN,
          events: batch(1000),
          lookups: [{ key: `${prefix}user:1`, field: "home_country" }],
        }),
      );
      assert.deepEqual(cold, {
        counts: {
          mget: 1,
          evalsha: 1,
          "lua strlen": 40,
          "lua append": 40,
          "lua pexpire": 40,
          "lua hget": 1,
        },
        roundTrips: 2,
      });
      // In memory: one command, one APPEND per entity, the expiry already set.
      const warm = await between(() => apply(batch(2000)));
      assert.deepEqual(warm, {
        counts: { evalsha: 1, "lua strlen": 40, "lua append": 40 },
        roundTrips: 1,
      });
      // A replayed batch writes nothing at all.
      const replay = await between(() => apply(batch(2000)));
      assert.deepEqual(replay, { counts: {}, roundTrips: 0 });
    } finally {
      monitor.disconnect();
    }
  });

  it("reads lookups in the write round trip; a missing record is null", async () => {
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

  it("keeps tracked strings intact: separators, non-ASCII, longer than 127 bytes", async () => {
    const long = "é".repeat(200);
    const [, second, third] = answers(
      await apply([
        event("text", T0, 0, 1, "a\x1fb"),
        event("text", T0, 1, 1, "a\\u b:c"),
        event("text", T0, 2, 1, long),
      ]),
    );
    assert.deepEqual([second?.distinct1h, third?.distinct1h], [2, 3]);
    assert.deepEqual(
      (await rowsIn(redis.client, prefix, "text")).map((row) => row[3]),
      ["a\x1fb", "a\\u b:c", long],
    );
  });

  it("prunes what no window can reach, rewrites the key once it is mostly stale, keeps the previous event", async () => {
    const plan: StatePlan = { ...PLAN, previousHorizonMs: HOUR };
    const rewrites = store.counts.rewrites;
    // 3 days of an event a minute, in batches of 10: windows reach back 1 h (+ 1 h slack).
    let offset = 0;
    for (let batch = 0; batch < 3 * 24 * 6; batch++) {
      const events = Array.from({ length: 10 }, () => event("prune", T0 + offset * MIN, offset++));
      await apply(events, plan);
    }
    assert.ok(store.counts.rewrites > rewrites, "rewritten");
    const rows = await rowsIn(redis.client, prefix, "prune", plan);
    const newest = T0 + (offset - 1) * MIN;
    // Stale rows never more than the live ones (2 h of history before the last two batches),
    // give or take a batch.
    assert.ok(rows.length <= 2 * (2 * 60 + 1 + 10) + 10, `${rows.length} rows in Redis`);
    assert.ok(rows.every(([, time], i) => i === 0 || Number(time) > newest - 5 * HOUR));
    // A day later: everything is stale but the last event, which is the next one's previous.
    const [later] = answers(await apply([event("prune", newest + DAY, offset)], plan));
    assert.equal(later?.previous, newest);
    assert.equal(later?.count5m, 1);
  });

  it("another member taking a partition over loads the state its last owner wrote", async () => {
    await apply([event("handover", T0, 0, 5, "m1"), event("handover", T0 + MIN, 1, 7, "m2")]);
    const next = await member();
    try {
      const [answer] = answers(
        await apply([event("handover", T0 + 2 * MIN, 2, 9, "m3")], PLAN, next),
      );
      assert.deepEqual(answer, {
        count5m: 3,
        sum5m: 21,
        mean1h: 7,
        min1h: 5,
        max1h: 9,
        distinct1h: 3,
        previous: T0 + MIN,
      });
    } finally {
      await next.close();
    }
  });

  it("a member whose partition was written by another (it was frozen, say) reloads, never forks the state", async () => {
    await apply([event("frozen", T0, 0, 1)]);
    // While this member was frozen, another took the partition and recorded offsets 1 and 2.
    const other = await member();
    try {
      await apply(
        [event("frozen", T0 + MIN, 1, 2), event("frozen", T0 + 2 * MIN, 2, 3)],
        PLAN,
        other,
      );
    } finally {
      await other.close();
    }
    // Back, with offset 1's batch in hand: its APPEND finds the key longer than expected.
    const conflicts = store.counts.conflicts;
    await assert.rejects(
      apply([event("frozen", T0 + MIN, 1, 2), event("frozen", T0 + 3 * MIN, 3, 4)]),
      (error: unknown) => {
        assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
        assert.equal(error.retryable, true);
        assert.match(error.message, /changed in Redis under this member/);
        return true;
      },
    );
    assert.equal(store.counts.conflicts, conflicts + 1);
    // The retry reloads: offset 3 sees 0, 1, 2 and itself, each once.
    const [, three] = answers(
      await apply([event("frozen", T0 + MIN, 1, 2), event("frozen", T0 + 3 * MIN, 3, 4)]),
    );
    assert.deepEqual([three?.count5m, three?.sum5m, three?.previous], [4, 10, T0 + 2 * MIN]);
    assert.deepEqual(
      (await rowsIn(redis.client, prefix, "frozen")).map((row) => row[0]),
      [0, 1, 2, 3],
    );
  });

  it("never rewrites over records another writer appended", async () => {
    const history = Array.from({ length: 100 }, (_, i) => event("cas", T0 + i * MIN, i));
    await apply(history);
    // Another writer records offset 100 behind this member's back.
    const other = await member();
    try {
      await apply([event("cas", T0 + 100 * MIN, 100)], PLAN, other);
    } finally {
      await other.close();
    }
    // Ten days later: this member's memory keeps 2 of 101 rows, so the batch rewrites the key...
    const { rewrites, conflicts } = store.counts;
    const late = event("cas", T0 + 10 * DAY, 101);
    await assert.rejects(apply([late]), (error: unknown) => {
      assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
      assert.match(error.message, /changed in Redis under this member/);
      return true;
    });
    assert.deepEqual([store.counts.rewrites, store.counts.conflicts], [rewrites, conflicts + 1]);
    // ...only if nobody wrote since: the other writer's record is still there, and the retry sees it.
    const offsets = (await rowsIn(redis.client, prefix, "cas")).map((row) => row[0]);
    assert.ok(offsets.includes(100), `offset 100 kept: ${offsets.join(", ")}`);
    const [answer] = answers(await apply([late]));
    assert.equal(answer?.previous, T0 + 100 * MIN);
    // Right after a reload the batch before is unknown, so nothing is pruned; the next batch
    // prunes (101's previous event stays), and rewrites the key.
    await apply([event("cas", T0 + 10 * DAY + MIN, 102)]);
    assert.deepEqual(
      (await rowsIn(redis.client, prefix, "cas")).map((row) => row[0]),
      [100, 101, 102],
      "rewritten once it was safe",
    );
    assert.equal(store.counts.rewrites, rewrites + 1);
  });

  it("drops the state of partitions this member no longer owns; reloads them if they come back", async () => {
    await apply([event("revoked", T0, 0, 1, "m", 3), event("kept", T0, 0, 1, "m", 4)]);
    const loads = store.counts.loads;
    store.assigned([4]);
    await apply([event("kept", T0 + 1, 1, 1, "m", 4)]);
    assert.equal(store.counts.loads, loads, "partition 4 stayed in memory");
    const [back] = answers(await apply([event("revoked", T0 + 1, 1, 1, "m", 3)]));
    assert.equal(store.counts.loads, loads + 1, "partition 3 was loaded again");
    assert.deepEqual([back?.count5m, back?.previous], [2, T0]);
    store.assigned([0, 1, 2, 3, 4]);
  });

  it("holds at most maxCachedEntities in memory and reloads the others", async () => {
    const small = await member({ maxCachedEntities: 2 });
    try {
      const entities = ["lru-a", "lru-b", "lru-c"];
      await apply(
        entities.map((e, i) => event(e, T0, i)),
        PLAN,
        small,
      );
      assert.ok(small.cachedEntities <= 2, `${small.cachedEntities} held`);
      const loads = small.counts.loads;
      const answered = answers(
        await apply(
          entities.map((e, i) => event(e, T0 + 1, 10 + i)),
          PLAN,
          small,
        ),
      );
      assert.ok(small.counts.loads > loads);
      assert.deepEqual(
        answered.map((a) => a.count5m),
        [2, 2, 2],
      );
    } finally {
      await small.close();
    }
  });

  it("holds at most maxCachedBytes of entity state, however few the entities, and answers the same", async () => {
    // One busy entity: its log grows with every event of its longest window. The count bound
    // (100,000 entities) never bites; the byte bound does, and the entity reloads from Redis.
    const bounded = await member({ maxCachedBytes: 8 * 1024 });
    try {
      let expected: ReturnType<typeof answers> = [];
      for (let batch = 0; batch < 20; batch++) {
        const events = Array.from({ length: 20 }, (_, i) =>
          event("byte-bound", T0 + batch * 20 + i, batch * 20 + i, 1, `m${i % 7}`),
        );
        expected = answers(await apply(events, PLAN, bounded));
        assert.ok(bounded.cachedBytes <= 8 * 1024, `${bounded.cachedBytes} bytes held`);
      }
      assert.equal(bounded.cachedEntities, 0, "the entity outgrew the bound and went");
      assert.equal(expected.at(-1)!.count5m, 400, "every event still counted, from Redis");
      assert.equal(expected.at(-1)!.distinct1h, 7);
      const loads = bounded.counts.loads;
      await apply([event("byte-bound", T0 + 400, 400)], PLAN, bounded);
      assert.equal(bounded.counts.loads, loads + 1, "reloaded on its next event");
    } finally {
      await bounded.close();
    }
  });

  it("counts the held state's memory: it grows with the rows and falls when pruning drops them", async () => {
    const fresh = await member();
    try {
      await apply([event("grow", T0, 0)], PLAN, fresh);
      const one = fresh.cachedBytes;
      await apply(
        Array.from({ length: 100 }, (_, i) => event("grow", T0 + 1 + i, 1 + i, 1, `merchant-${i}`)),
        PLAN,
        fresh,
      );
      const many = fresh.cachedBytes;
      assert.ok(many > one + 100 * 5 * 8, `${one} -> ${many} bytes for 100 more rows`);
      // Two days later: every earlier row is past the 1 h horizon (and the slack) and goes.
      await apply([event("grow", T0 + 2 * DAY, 200)], PLAN, fresh);
      await apply([event("grow", T0 + 2 * DAY + 1, 201)], PLAN, fresh);
      assert.ok(fresh.cachedBytes < many / 2, `${many} -> ${fresh.cachedBytes} bytes once pruned`);
    } finally {
      await fresh.close();
    }
  });

  it("stops with the key named when what Redis holds is not a log of this layout", async () => {
    await apply([event("corrupt", T0, 0)]);
    const key = await keyOf(redis.client, prefix, "corrupt");
    await redis.client.set(key, "not a log");
    const fresh = await member();
    try {
      await assert.rejects(apply([event("corrupt", T0 + 1, 1)], PLAN, fresh), (error: unknown) => {
        assert.ok(ConsumerError.is(error, "internal"), String(error));
        assert.equal(error.retryable, false);
        assert.ok(error.message.includes(key), error.message);
        assert.match(error.message, /expected a record of at least 24 bytes, got 9/);
        return true;
      });
    } finally {
      await fresh.close();
    }
  });

  it("deleteState removes its own prefix's keys only, a prefix with glob characters taken literally", async () => {
    // A prefix under this file's, with the characters a SCAN pattern would read as globs.
    const own = `${prefix}backtest:[a*]?:`;
    const lookalike = `${prefix}backtest:a1:`;
    const mine = await RedisFeatureStore.connect(redis.url, { keyPrefix: own });
    const other = await RedisFeatureStore.connect(redis.url, { keyPrefix: lookalike });
    try {
      await apply([event("d1", T0, 0), event("d2", T0, 1, 1, "m1", 1)], PLAN, mine);
      await apply([event("d1", T0, 0)], PLAN, other);
      const before = await snapshot(redis.client, lookalike);
      assert.equal(Object.keys(before).length, 1);
      assert.equal(await mine.deleteState(), 2);
      assert.deepEqual(await redis.client.keys(`${own.replace(/[*?[\]]/g, "\\$&")}*`), []);
      assert.deepEqual(await snapshot(redis.client, lookalike), before);
      // Deleted from memory too: the entity starts over, as after a first start.
      const [again] = answers(await apply([event("d1", T0 + 1, 2)], PLAN, mine));
      assert.equal(again?.count5m, 1);
    } finally {
      await mine.close();
      await other.close();
    }
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

  /** Applies `events` until Redis answers (ioredis reconnects on its own meanwhile). */
  async function applyWhenBack(store: RedisFeatureStore, events: StoreEvent[]) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await store.apply({ plan: PLAN, events, lookups: [] });
      } catch (error) {
        assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  it("fails a batch with a retryable store_unavailable when Redis dies; a Redis that lost its data is believed", async () => {
    const own = await startTestRedis({ own: true });
    const store = await RedisFeatureStore.connect(own.url, { keyPrefix: uniquePrefix() });
    try {
      await store.apply({ plan: PLAN, events: [event("down", T0, 0)], lookups: [] });
      await store.apply({ plan: PLAN, events: [event("kept", T0, 0)], lookups: [] });
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
      // Back on the same port, without persistence: the old state is gone. The entity of the
      // failed batch was dropped from memory, so its retry loads the empty state...
      await own.restart();
      const [down] = answers(await applyWhenBack(store, [event("down", T0 + 2, 2)]));
      assert.equal(down?.count5m, 1);
      // ...and the one still in memory finds out on its next write and is answered like it.
      const error = await store
        .apply({ plan: PLAN, events: [event("kept", T0 + 1, 1)], lookups: [] })
        .then(
          () => undefined,
          (failure: unknown) => failure,
        );
      assert.ok(ConsumerError.is(error, "store_unavailable"), String(error));
      assert.match(error.message, /changed in Redis under this member/);
      const [retried] = answers(await applyWhenBack(store, [event("kept", T0 + 1, 1)]));
      assert.equal(retried?.count5m, 1, "offset 0 went with the old Redis; the retry wrote 1");
      const [kept] = answers(await applyWhenBack(store, [event("kept", T0 + 2, 2)]));
      assert.equal(kept?.count5m, 2);
    } finally {
      await store.close();
      await own.stop();
    }
  });

  it("loses nothing when a persistent Redis is killed and restarted", async () => {
    const own = await startTestRedis({ own: true, persistent: true });
    const prefix = uniquePrefix();
    const store = await RedisFeatureStore.connect(own.url, { keyPrefix: prefix });
    try {
      const events = Array.from({ length: 50 }, (_, i) =>
        event(`p${i % 5}`, T0 + i * 1000, i, i + 0.5, `m${i % 3}`),
      );
      await store.apply({ plan: PLAN, events: events.slice(0, 30), lookups: [] });
      const before = await snapshot(own.client, prefix);
      await own.kill();
      await own.restart();
      const after = await waitForSnapshot(own.client, prefix);
      assert.deepEqual(after, before);
      // Both this member (memory intact) and a fresh one answer the rest alike, from 30 events.
      const rest = answers(await applyWhenBack(store, events.slice(30)));
      const fresh = await RedisFeatureStore.connect(own.url, { keyPrefix: `${prefix}x` });
      try {
        await fresh.apply({ plan: PLAN, events: events.slice(0, 30), lookups: [] });
        assert.deepEqual(
          answers(await fresh.apply({ plan: PLAN, events: events.slice(30), lookups: [] })),
          rest,
        );
      } finally {
        await fresh.close();
      }
    } finally {
      await store.close();
      await own.stop();
    }
  });
});

/** The snapshot once the restarted server answers (its client reconnects on its own). */
async function waitForSnapshot(client: Redis, prefix: string): Promise<Record<string, string>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await snapshot(client, prefix);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
