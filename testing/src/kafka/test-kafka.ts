/**
 * Test support for the Kafka pipeline: the real local Kafka and Redis (`ensureStack`, which honours
 * KAFKA_BROKERS and REDIS_URL), fresh UUID topics per test deleted afterwards, and a producer.
 */
import { randomUUID } from "node:crypto";
import { Kafka, Partitioners, logLevel, type Admin, type Message, type Producer } from "kafkajs";
import { ensureStack } from "../stack/stack.js";
import type { StackOptions } from "../stack/stack-options.js";

export interface TestKafka {
  readonly brokers: string[];
  readonly redisUrl: string;
  readonly admin: Admin;
  /** Creates topics named `<prefix>-<uuid>` with `partitions` each; deleted by `close()`. */
  topics<K extends string>(names: readonly K[], partitions: number): Promise<Record<K, string>>;
  /** Sends the messages in order (per key, order is kept on one partition) and waits for acks. */
  produce(topic: string, messages: Message[]): Promise<void>;
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
  const kafka = new Kafka({ clientId: "sluice-test", brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let producer: Producer | undefined;
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
      await admin.createTopics({
        waitForLeaders: true,
        topics: list.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
      });
      created.push(...list);
      return topics;
    },
    async produce(topic, messages) {
      if (producer === undefined) {
        producer = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          createPartitioner: Partitioners.DefaultPartitioner,
        });
        await producer.connect();
      }
      await producer.send({ topic, messages, acks: -1 });
    },
    async rewind(groupId, topic) {
      await admin.resetOffsets({ groupId, topic, earliest: true });
    },
    async close() {
      await producer?.disconnect().catch(() => {});
      if (created.length > 0) await admin.deleteTopics({ topics: created }).catch(() => {});
      await admin.disconnect();
    },
  };
}
