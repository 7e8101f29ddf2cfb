/**
 * Test support for the Kafka pipeline: the real local Kafka and Redis (`ensureStack`, which honours
 * KAFKA_BROKERS and REDIS_URL), fresh UUID topics per test deleted afterwards, and a producer.
 * On @platformatic/kafka, independent of the pipeline's own Kafka adapter.
 */
import { randomUUID } from "node:crypto";
import { Producer, ProduceAcks, serializersFrom } from "@platformatic/kafka";
import { keyPartitioner } from "@sluice/consumer";
import { ensureStack } from "../stack/stack.js";
import type { StackOptions } from "../stack/stack-options.js";
import { KafkaAdmin } from "./kafka-admin.js";

type Bytes = string | Buffer;

/** A record to produce; a key puts it on the partition a Java or kafkajs producer would pick. */
export interface TestMessage {
  readonly key?: Bytes | null;
  /** null: a tombstone. */
  readonly value: Bytes | null;
  /** Headers whose value is undefined are left out. */
  readonly headers?: Readonly<Record<string, Bytes | undefined>>;
  /** The record's timestamp, epoch milliseconds. @default when it is sent */
  readonly timestamp?: number;
}

/** Text as UTF-8, bytes as they are. */
const bytes = serializersFrom<Bytes>((data?: Bytes) =>
  typeof data === "string" ? Buffer.from(data) : data,
);

export interface TestKafka {
  readonly brokers: string[];
  readonly redisUrl: string;
  readonly admin: KafkaAdmin;
  /** Creates topics named `<prefix>-<uuid>` with `partitions` each; deleted by `close()`. */
  topics<K extends string>(names: readonly K[], partitions: number): Promise<Record<K, string>>;
  /** Sends the messages in order (per key, order is kept on one partition) and waits for acks. */
  produce(topic: string, messages: readonly TestMessage[]): Promise<void>;
  /** Moves `groupId`'s committed offsets on `topic` back to the beginning (the group must be empty). */
  rewind(groupId: string, topic: string): Promise<void>;
  close(): Promise<void>;
}

/** How long the first start of the stack may take (it may fetch Kafka's jars). */
export const STACK_TIMEOUT_MS = 120_000;

/** `options` pick another broker than the shared local one (e.g. a test's own, to restart it). */
export async function startTestKafka(options: StackOptions = {}): Promise<TestKafka> {
  const stack = await ensureStack({ progress: () => {}, ...options });
  const brokers = stack.brokers.split(",");
  const admin = new KafkaAdmin(brokers, "sluice-test");
  let producer: Producer<Bytes, Bytes, Bytes, Bytes> | undefined;
  const created: string[] = [];
  return {
    brokers,
    redisUrl: stack.redisUrl,
    admin,
    async topics(names, partitions) {
      const topics = Object.fromEntries(
        names.map((name) => [name, `sluice-test-${name}-${randomUUID()}`]),
      ) as Record<(typeof names)[number], string>;
      const list = Object.values<string>(topics);
      await admin.createTopics(list, partitions);
      created.push(...list);
      return topics;
    },
    async produce(topic, messages) {
      producer ??= new Producer({
        clientId: "sluice-test",
        bootstrapBrokers: brokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
        serializers: bytes,
        partitioner: keyPartitioner(),
      });
      await producer.send({
        messages: messages.map(({ key, value, headers, timestamp }) => ({
          topic,
          key: key ?? undefined,
          // The library writes a missing value as null: a tombstone.
          value: value ?? (undefined as unknown as Bytes),
          ...(headers === undefined ? {} : { headers: definedHeaders(headers) }),
          ...(timestamp === undefined ? {} : { timestamp: BigInt(timestamp) }),
        })),
      });
    },
    rewind: (groupId, topic) => admin.rewind(groupId, topic),
    async close() {
      await producer?.close().catch(() => {});
      await admin.deleteTopics(created).catch(() => {});
      await admin.close();
    },
  };
}

function definedHeaders(headers: Readonly<Record<string, Bytes | undefined>>): Map<Bytes, Bytes> {
  const defined = new Map<Bytes, Bytes>();
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) defined.set(name, value);
  return defined;
}
