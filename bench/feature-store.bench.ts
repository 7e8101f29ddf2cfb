/**
 * The feature store alone (issue 13, "State at a fraction of today's cost"): RedisFeatureStore
 * answering the fraud example's state plan (five windows and the previous event) for micro-batches
 * of 245 events over `--users` users, as the pipeline benchmark's maximum drain sends them. It
 * prints the consumer's CPU per event (in this process: the store's own work and ioredis) and the
 * Redis server's (INFO cpu), after a warm-up that loads every user once.
 *
 *   node --conditions=source --import tsx bench/feature-store.bench.ts [--users 10000]
 *        [--batches 400] [--runs 3]
 *
 * Uses the running Redis (REDIS_URL, or the local stack's); writes and deletes its own keys. The
 * Redis CPU includes other clients' work if the server is shared.
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import {
  RedisFeatureStore,
  type FeatureStoreCounts,
  type StatePlan,
  type StoreEvent,
} from "@sluice/consumer";
import { ensureStack } from "@sluice/testing";
import { RedisCpu } from "./pipeline/redis-cpu.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** examples/pipelines/fraud.yaml's windows and since_previous, as the extractor compiles them. */
const FRAUD_PLAN: StatePlan = {
  windows: [
    { aggregation: "count", field: undefined, overMs: 5 * MIN },
    { aggregation: "count", field: undefined, overMs: HOUR },
    { aggregation: "count", field: undefined, overMs: DAY },
    { aggregation: "mean", field: 0, overMs: DAY },
    { aggregation: "distinct_count", field: 1, overMs: HOUR },
  ],
  trackedFields: ["number:amount:undefined", "string:merchant_id:undefined"],
  sincePrevious: true,
  windowHorizonMs: DAY,
  previousHorizonMs: 7 * DAY,
};
/** The pipeline benchmark's micro-batches at its maximum drain: ~245 events. */
const BATCH = 245;

const { values: flags } = parseArgs({
  options: {
    users: { type: "string", default: "10000" },
    batches: { type: "string", default: "400" },
    runs: { type: "string", default: "3" },
  },
});
const users = Number(flags.users);
const batches = Number(flags.batches);
const runs = Number(flags.runs);

const { redisUrl } = await ensureStack();
const url = process.env["REDIS_URL"] ?? redisUrl;
const prefix = `bench-store:${randomUUID()}:`;
const cpu = new RedisCpu(url);
await cpu.connect();
const store = await RedisFeatureStore.connect(url, { keyPrefix: prefix });

let offset = 0;
const start = Date.now();
/** One micro-batch: users drawn at random, 10 ms of event time apart, 8 partitions by user. */
function batch(): StoreEvent[] {
  return Array.from({ length: BATCH }, () => {
    const at = offset++;
    const user = Math.floor(Math.random() * users);
    return {
      entity: `u-${user}`,
      eventTime: start + at * 10,
      partition: user % 8,
      offset: String(at),
      values: [Math.round(Math.random() * 50_000) / 100, `m-${Math.floor(Math.random() * 50)}`],
    };
  });
}

process.stdout.write(
  `feature store: ${users} users, ${runs} runs of ${batches} micro-batches of ${BATCH} events; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(", ")}\n`,
);
try {
  // Random users: about n·ln n draws see every one (the coupon collector), so all are loaded.
  const warmup = Math.ceil((users * Math.log(users) * 1.2) / BATCH);
  for (let i = 0; i < warmup; i++)
    await store.apply({ plan: FRAUD_PLAN, events: batch(), lookups: [] });
  for (let run = 1; run <= runs; run++) {
    const work = Array.from({ length: batches }, batch);
    // Read through an optional field, so this file also measures the store of older commits.
    const counts = { ...(store as { counts?: FeatureStoreCounts }).counts };
    const redisBefore = await cpu.usedMs();
    const consumerBefore = process.cpuUsage();
    const started = performance.now();
    for (const events of work) await store.apply({ plan: FRAUD_PLAN, events, lookups: [] });
    const wallMs = performance.now() - started;
    const consumer = process.cpuUsage(consumerBefore);
    const redisMs = (await cpu.usedMs()) - redisBefore;
    const n = batches * BATCH;
    const now = (store as { counts?: FeatureStoreCounts }).counts;
    const did =
      now === undefined || counts.roundTrips === undefined
        ? ""
        : `; ${now.roundTrips - counts.roundTrips} round trips, ${now.loads - (counts.loads ?? 0)} loads, ` +
          `${now.appends - (counts.appends ?? 0)} appends, ${now.rewrites - (counts.rewrites ?? 0)} rewrites`;
    process.stdout.write(
      `run ${run}: consumer ${((consumer.user + consumer.system) / n).toFixed(1)} µs/event, ` +
        `Redis ${((redisMs * 1000) / n).toFixed(1)} µs/event, wall ${((wallMs * 1000) / n).toFixed(1)} µs/event${did}\n`,
    );
  }
} finally {
  await store.close();
  const redis = new Redis(url);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
  redis.disconnect();
  cpu.close();
}
process.stdout.write(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(", ")}\n`,
);
