/**
 * Reads topics from the beginning, as a downstream reader would: a fresh consumer group that
 * commits nothing, read_committed (so an exactly-once pipeline's aborted attempts stay unseen),
 * until it has caught up with the topics' ends and the caller says it has enough. For
 * `sluice verify` and the tests.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel, type Admin, type Consumer } from "kafkajs";
import type { RecordHeaders } from "@sluice/consumer";

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
  /** Epoch milliseconds, decimal. */
  readonly timestamp: string;
}

export interface CollectOptions {
  readonly brokers: readonly string[];
  readonly topics: readonly string[];
  /** Once caught up with the topics' ends, stop when this says so. @default stop at once */
  readonly until?: (records: readonly ReadRecord[]) => boolean;
  /** Give up (with `complete: false`) after this long. */
  readonly timeoutMs: number;
  /** How often the topics' ends are read again. @default 250 */
  readonly pollMs?: number;
  /** @default "sluice-reader" */
  readonly clientId?: string;
}

export interface Collected {
  readonly records: ReadRecord[];
  /** False when the time ran out first. */
  readonly complete: boolean;
}

const DEFAULT_POLL_MS = 250;

/** Reads `topics` from their beginnings until caught up and `until` is satisfied, or time is out. */
export async function collectTopics(options: CollectOptions): Promise<Collected> {
  const kafka = new Kafka({
    clientId: options.clientId ?? "sluice-reader",
    brokers: [...options.brokers],
    logLevel: logLevel.NOTHING,
  });
  const groupId = `sluice-reader-${randomUUID()}`;
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, readUncommitted: false });
  const records: ReadRecord[] = [];
  /** Per `topic:partition`, the next offset to read. */
  const positions = new Map<string, bigint>();
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    positions.set(`${payload.topic}:${payload.partition}`, BigInt(payload.lastOffset) + 1n);
  });
  const deadline = Date.now() + options.timeoutMs;
  let complete = false;
  try {
    await admin.connect();
    // A topic nobody wrote to yet may not exist: it is empty, not an error.
    const existing = new Set(await admin.listTopics());
    const topics = options.topics.filter((topic) => existing.has(topic));
    await consumer.connect();
    if (topics.length > 0) await consumer.subscribe({ topics, fromBeginning: true });
    if (topics.length > 0) {
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            records.push({
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers: message.headers ?? {},
              timestamp: message.timestamp,
            });
          }
          return Promise.resolve();
        },
      });
    }
    const until = options.until ?? (() => true);
    while (Date.now() < deadline) {
      if ((await caughtUp(admin, topics, positions)) && until(records)) {
        complete = true;
        break;
      }
      await sleep(Math.min(options.pollMs ?? DEFAULT_POLL_MS, Math.max(deadline - Date.now(), 1)));
    }
  } finally {
    await stop(consumer, admin, groupId);
  }
  return { records, complete };
}

async function caughtUp(
  admin: Admin,
  topics: readonly string[],
  positions: ReadonlyMap<string, bigint>,
): Promise<boolean> {
  for (const topic of topics) {
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
      if (high === low) continue;
      const position = positions.get(`${topic}:${partition}`);
      if (position === undefined || position < BigInt(high)) return false;
    }
  }
  return true;
}

async function stop(consumer: Consumer, admin: Admin, groupId: string): Promise<void> {
  await consumer.disconnect().catch(() => {});
  // The group committed nothing, but the broker keeps its empty record until it expires.
  await admin.deleteGroups([groupId]).catch(() => {});
  await admin.disconnect().catch(() => {});
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
