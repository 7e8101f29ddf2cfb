/**
 * Child process of the pipeline benchmark: `sluice produce` (produceSyntheticEvents, the synthetic
 * fraud generator) into one topic, at a steady rate for a duration or up to a count. Runs apart
 * from the consumer under test and from the benchmark's output reader, so neither slows the other.
 * With a count instead of a duration it preloads a backlog: the same generator and producer
 * settings, sent in fixed chunks as fast as the broker takes them (sluice produce's catch-up would
 * send one oversized request after a stall on a busy machine).
 * Prints `benchReady` at once, then one `{"benchResult": ...}` line when done, and exits.
 *
 *   node --conditions=source --import tsx bench/servers/event-source.ts '<EventSourceSettings JSON>'
 */
import { Redis } from "ioredis";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { SyntheticFraud, produceSyntheticEvents } from "@sluice/demo";
import { announceReady } from "../lib/child.js";
import type { EventSourceResult, EventSourceSettings } from "../pipeline/event-source.js";

const argument = process.argv[2];
if (argument === undefined) throw new Error("usage: event-source.ts <settings JSON>");
const settings = JSON.parse(argument) as EventSourceSettings;

// Exits with the benchmark: nothing to drain.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
announceReady({});
/** Events per send when preloading: ~300 bytes each, well under the broker's 1 MB per partition. */
const PRELOAD_CHUNK = 2_000;

async function atRate(settings: EventSourceSettings): Promise<EventSourceResult> {
  let startedAt: number | undefined;
  const report = await produceSyntheticEvents({
    brokers: settings.brokers,
    topic: settings.topic,
    redisUrl: settings.redisUrl,
    rate: settings.rate ?? 0,
    runId: settings.runId,
    users: settings.users,
    durationMs: settings.durationMs ?? 0,
    progress: (progress) => {
      // The first report is about a second in: the same clock reading gives the start exactly.
      startedAt ??= Date.now() - progress.elapsedMs;
    },
  });
  return { startedAt: startedAt ?? Date.now() - report.elapsedMs, produced: report.produced };
}

async function preload(settings: EventSourceSettings, count: number): Promise<EventSourceResult> {
  const generator = new SyntheticFraud({ runId: settings.runId, users: settings.users });
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const homes = redis.pipeline();
    for (const [user, home] of generator.homes()) homes.hset(`user:${user}`, "home_country", home);
    const failed = (await homes.exec())?.find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0] as Error;
  } finally {
    redis.disconnect();
  }
  const producer = new Kafka({
    clientId: "sluice-bench-preload",
    brokers: [...settings.brokers],
    logLevel: logLevel.ERROR,
  }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const startedAt = Date.now();
  let produced = 0;
  try {
    while (produced < count) {
      const now = Date.now();
      const messages = Array.from({ length: Math.min(PRELOAD_CHUNK, count - produced) }, () => {
        const record = generator.next(now);
        return record.kind === "event"
          ? { key: record.key, value: JSON.stringify(record.event) }
          : { key: record.key, value: record.value };
      });
      await producer.send({ topic: settings.topic, messages, acks: -1 });
      produced += messages.length;
    }
  } finally {
    await producer.disconnect();
  }
  return { startedAt, produced };
}

const result: EventSourceResult =
  settings.count === undefined ? await atRate(settings) : await preload(settings, settings.count);
process.stdout.write(`${JSON.stringify({ benchResult: result })}\n`);
process.exit(0);
