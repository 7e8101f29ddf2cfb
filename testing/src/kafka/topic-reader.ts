/**
 * Reads topics from the beginning, as a downstream reader would: a fresh consumer group that
 * commits nothing, read_committed (so an exactly-once pipeline's aborted attempts stay unseen),
 * until it has caught up with the topics' ends and the caller says it has enough. For
 * `sluice verify` and the tests.
 */
import { randomUUID } from "node:crypto";
import { FetchIsolationLevels, type Message } from "@platformatic/kafka";
import {
  platformaticSecurity,
  ReadCommittedConsumer,
  type HeaderValue,
  type KafkaSecurity,
  type RecordHeaders,
} from "@sluice/consumer";
import { KafkaAdmin } from "./kafka-admin.js";

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
  /** TLS and SASL, as a pipeline file's `kafka:` gives them. @default plaintext */
  readonly security?: KafkaSecurity;
}

export interface Collected {
  readonly records: ReadRecord[];
  /** False when the time ran out first. */
  readonly complete: boolean;
}

const DEFAULT_POLL_MS = 250;
/** The broker's minimum: a reader that dies leaves its fresh group soon. */
const SESSION_TIMEOUT_MS = 6_000;

/** Reads `topics` from their beginnings until caught up and `until` is satisfied, or time is out. */
export async function collectTopics(options: CollectOptions): Promise<Collected> {
  const clientId = options.clientId ?? "sluice-reader";
  const groupId = `sluice-reader-${randomUUID()}`;
  const admin = new KafkaAdmin(options.brokers, clientId, options.security);
  // The library's own read_committed filter shows aborted transactions (see ReadCommittedConsumer).
  const consumer = new ReadCommittedConsumer({
    clientId,
    groupId,
    bootstrapBrokers: [...options.brokers],
    ...platformaticSecurity(options.security, options.brokers),
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    sessionTimeout: SESSION_TIMEOUT_MS,
    heartbeatInterval: 1_000,
    maxWaitTime: 100,
  });
  const records: ReadRecord[] = [];
  const deadline = Date.now() + options.timeoutMs;
  let complete = false;
  let stream: Awaited<ReturnType<typeof consumer.consume>> | undefined;
  try {
    // A topic nobody wrote to yet may not exist: it is empty, not an error.
    const existing = new Set(await admin.listTopics());
    const topics = options.topics.filter((topic) => existing.has(topic));
    if (topics.length > 0) {
      stream = await consumer.consume({ topics, mode: "earliest", autocommit: false });
      stream.on("data", (message: Message) => records.push(toReadRecord(message)));
      stream.on("error", () => {});
    }
    const until = options.until ?? (() => true);
    while (Date.now() < deadline) {
      if ((await caughtUp(admin, topics, stream?.offsetsToFetch)) && until(records)) {
        complete = true;
        break;
      }
      await sleep(Math.min(options.pollMs ?? DEFAULT_POLL_MS, Math.max(deadline - Date.now(), 1)));
    }
  } finally {
    await stream?.close().catch(() => {});
    await consumer.close(true).catch(() => {});
    // The group committed nothing, but the broker keeps its empty record until it expires.
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.close().catch(() => {});
  }
  return { records, complete };
}

function toReadRecord(message: Message): ReadRecord {
  const headers: Record<string, HeaderValue | HeaderValue[]> = {};
  for (const [name, value] of message.headers) {
    const key = name.toString();
    const seen = headers[key];
    if (seen === undefined) headers[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[key] = [seen, value];
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
    timestamp: String(message.timestamp),
  };
}

/** Whether the reader has passed every partition's high watermark: transactions resolved, markers read. */
async function caughtUp(
  admin: KafkaAdmin,
  topics: readonly string[],
  positions: ReadonlyMap<string, bigint> | undefined,
): Promise<boolean> {
  for (const topic of topics) {
    for (const { partition, high, low } of await admin.topicEnds(topic)) {
      if (high === low) continue;
      const position = positions?.get(`${topic}:${partition}`);
      if (position === undefined || position < BigInt(high)) return false;
    }
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
