/**
 * `sluice produce`: synthetic fraud events into a pipeline's input topic at a steady rate, keyed
 * by user id, bounded by a count or a duration. The users' home countries go to Redis first
 * (`user:<id>` → `home_country`), where the pipeline's lookup reads them.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { SyntheticFraud, type SyntheticFraudOptions } from "./synthetic-fraud.js";

export interface ProduceOptions extends SyntheticFraudOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly redisUrl: string;
  /** Events per second. */
  readonly rate: number;
  /** Stop after this many records… */
  readonly count?: number;
  /** …or after this many milliseconds, whichever comes first. */
  readonly durationMs?: number;
  /** Called about once a second, and once at the end. */
  readonly progress?: (report: ProduceReport) => void;
  /** Aborting stops after the send in flight. */
  readonly signal?: AbortSignal;
}

export interface ProduceReport {
  readonly runId: string;
  readonly produced: number;
  readonly malformed: number;
  readonly fraud: number;
  readonly elapsedMs: number;
  /** Records per second so far. */
  readonly rate: number;
}

/** Sends happen this often; each carries the events due since the last one. */
const TICK_MS = 20;
const PROGRESS_EVERY_MS = 1_000;

export async function produceSyntheticEvents(options: ProduceOptions): Promise<ProduceReport> {
  if (options.count === undefined && options.durationMs === undefined) {
    throw new Error("produce: expected a count or a duration, got neither (it must stop)");
  }
  const runId = options.runId ?? randomUUID().slice(0, 8);
  const generator = new SyntheticFraud({ ...options, runId });
  await writeHomes(options.redisUrl, generator.homes());

  const kafka = new Kafka({
    clientId: "sluice-produce",
    brokers: [...options.brokers],
    logLevel: logLevel.ERROR,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const started = Date.now();
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const end =
    options.durationMs === undefined ? Number.POSITIVE_INFINITY : started + options.durationMs;
  let produced = 0;
  let malformed = 0;
  let fraud = 0;
  let lastProgress = started;
  const report = (): ProduceReport => {
    const elapsedMs = Date.now() - started;
    return {
      runId,
      produced,
      malformed,
      fraud,
      elapsedMs,
      rate: produced / Math.max(elapsedMs / 1000, 0.001),
    };
  };
  try {
    while (produced < limit && Date.now() < end && options.signal?.aborted !== true) {
      const now = Date.now();
      const due =
        Math.min(Math.floor(((now - started) / 1000) * options.rate) + 1, limit) - produced;
      if (due > 0) {
        const messages = Array.from({ length: due }, () => {
          const record = generator.next(now);
          if (record.kind === "malformed") {
            malformed++;
            return { key: record.key, value: record.value };
          }
          if (record.fraud) fraud++;
          return { key: record.key, value: JSON.stringify(record.event) };
        });
        await producer.send({ topic: options.topic, messages, acks: -1 });
        produced += due;
      }
      if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        options.progress?.(report());
      }
      await sleep(TICK_MS);
    }
  } finally {
    await producer.disconnect();
  }
  const final = report();
  options.progress?.(final);
  return final;
}

async function writeHomes(url: string, homes: ReadonlyMap<string, string>): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    const batch = redis.pipeline();
    for (const [user, home] of homes) batch.hset(`user:${user}`, "home_country", home);
    const results = await batch.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0] as Error;
  } catch (error) {
    throw new Error(
      `cannot write the users' home countries to ${redact(url)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    redis.disconnect();
  }
}

/** A URL without its password, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "the Redis URL";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
