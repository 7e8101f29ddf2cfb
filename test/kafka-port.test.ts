/**
 * The Kafka port's contract, on both adapters (`PlatformaticClient`, `KafkajsClient`) and a real
 * broker, without the rest of the pipeline: what PartitionHandler relies on. Records come in
 * per-partition batches, in offset order, one batch at a time per partition; a paused partition
 * gets nothing while the others go on, and on resume its unresolved records come again; a new
 * member of the group starts at the committed offset; a transaction's outputs and offsets are
 * visible together to a read_committed reader; compressed outputs are smaller on the broker and
 * read back as sent by either client.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_FETCH_MAX_WAIT_MS,
  KAFKA_CLIENTS,
  type Compression,
  type OutputRecord,
  KafkajsClient,
  keyPartitioner,
  PlatformaticClient,
  type KafkaClient,
  type KafkaClientName,
  type KafkaConsumer,
  type PartitionBatch,
} from "@sluice/consumer";
import {
  collectTopics,
  STACK_TIMEOUT_MS,
  startTestKafka,
  waitFor,
  type TestKafka,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 60_000;

function client(
  name: KafkaClientName,
  brokers: readonly string[],
  compression: Compression = "none",
): KafkaClient {
  const options = { brokers, clientId: `sluice-port-test-${name}`, compression };
  return name === "kafkajs" ? new KafkajsClient(options) : new PlatformaticClient(options);
}

describe("the Kafka port, on each client", { timeout: 4 * 60_000 }, () => {
  let kafka: TestKafka;
  const open: { disconnect(): Promise<void> }[] = [];

  before(async () => (kafka = await startTestKafka()), { timeout: STACK_TIMEOUT_MS });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.disconnect().catch(() => {})));
    await kafka?.close();
  });

  function consumer(name: KafkaClientName, groupId: string): KafkaConsumer {
    const made = client(name, kafka.brokers).consumer({
      groupId,
      groupInstanceId: undefined,
      maxWaitTimeMs: DEFAULT_FETCH_MAX_WAIT_MS,
      sessionTimeoutMs: 6_000,
    });
    open.push(made);
    return made;
  }

  /** `count` records per partition, values `p<partition>-<i>`, on a fresh topic. */
  async function topicWith(partitions: number, count: number): Promise<string> {
    const { input } = await kafka.topics(["input"], partitions);
    for (let p = 0; p < partitions; p++) {
      const key = keyFor(p, partitions);
      await kafka.produce(
        input,
        Array.from({ length: count }, (_, i) => ({ key, value: `p${p}-${i}` })),
      );
    }
    return input;
  }

  for (const name of KAFKA_CLIENTS) {
    it(
      `${name}: zstd outputs take fewer bytes on the broker and read back as sent, on either client`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { plain, packed } = await kafka.topics(["plain", "packed"], 1);
        const records = (topic: string): OutputRecord[] =>
          Array.from({ length: 300 }, (_, i) => ({
            topic,
            key: `user-${i % 7}`,
            value: JSON.stringify({ id: `tx-${i}`, amount: 42.5, currency: "EUR", channel: "pos" }),
            headers: {
              "sluice-source-offset": String(i),
              traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
            },
          }));
        for (const [topic, compression] of [
          [plain, "none"],
          [packed, "zstd"],
        ] as const) {
          const producer = client(name, kafka.brokers, compression).producer();
          open.push(producer);
          await producer.connect();
          await producer.send(records(topic));
        }
        const [plainBytes, packedBytes] = await Promise.all([
          kafka.admin.logBytes(plain),
          kafka.admin.logBytes(packed),
        ]);
        assert.ok(
          packedBytes * 3 < plainBytes,
          `expected the zstd log under a third of the plain one, got ${packedBytes} and ${plainBytes} bytes`,
        );
        const sent = records(packed).map((r) => [
          r.key,
          r.value,
          r.headers["sluice-source-offset"] as string,
        ]);
        for (const reader of KAFKA_CLIENTS) {
          const c = consumer(reader, `sluice-port-${randomUUID()}`);
          const seen: string[][] = [];
          await c.connect();
          await c.subscribe(packed);
          await c.run({
            concurrency: 1,
            eachBatch: (batch) => {
              for (const r of batch.records) {
                const offset = r.headers["sluice-source-offset"];
                seen.push([String(r.key), String(r.value), String(offset)]);
              }
              batch.resolveOffset(batch.records[batch.records.length - 1]!.offset);
              return Promise.resolve();
            },
          });
          await waitFor(`${reader} read the zstd topic`, () => seen.length >= sent.length);
          assert.deepEqual(seen, sent, `${reader} reads what ${name} wrote with zstd`);
          await c.disconnect();
        }
      },
    );

    it(
      `${name}: per-partition batches in order; a paused partition waits while the others go on, and gets its records again`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = await topicWith(2, 30);
        const c = consumer(name, `sluice-port-${randomUUID()}`);
        const seen = new Map<number, string[]>([
          [0, []],
          [1, []],
        ]);
        const running = new Set<number>();
        let paused = false;
        let resumedAt = 0;
        let overlap = false;
        await c.connect();
        await c.subscribe(topic);
        await c.run({
          concurrency: 2,
          eachBatch: async (batch: PartitionBatch) => {
            if (running.has(batch.partition)) overlap = true;
            running.add(batch.partition);
            try {
              const values = batch.records.map((r) => r.value?.toString() ?? "");
              if (batch.partition === 0 && !paused) {
                // The first batch of partition 0 fails: pause it, resolve nothing.
                paused = true;
                batch.pause();
                setTimeout(() => {
                  resumedAt = Date.now();
                  c.resume(topic, 0);
                }, 1_500);
                return;
              }
              await new Promise((resolve) => setTimeout(resolve, 5));
              seen.get(batch.partition)!.push(...values);
              batch.resolveOffset(batch.records[batch.records.length - 1]!.offset);
            } finally {
              running.delete(batch.partition);
            }
          },
        });
        await waitFor("partition 1 done while 0 is paused", () => seen.get(1)!.length === 30);
        assert.equal(resumedAt, 0, "partition 1 finished before partition 0 resumed");
        assert.deepEqual(seen.get(0), [], "nothing of the paused partition meanwhile");
        await waitFor("partition 0 done after resuming", () => seen.get(0)!.length === 30);
        const expected = (p: number) => Array.from({ length: 30 }, (_, i) => `p${p}-${i}`);
        assert.deepEqual(seen.get(0), expected(0), "every record, once, in order");
        assert.deepEqual(seen.get(1), expected(1));
        assert.equal(overlap, false, "one batch at a time per partition");
      },
    );

    it(
      `${name}: a new member starts at the committed offset`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = await topicWith(1, 20);
        const groupId = `sluice-port-${randomUUID()}`;
        const first = consumer(name, groupId);
        const firstSeen: string[] = [];
        await first.connect();
        await first.subscribe(topic);
        await first.run({
          concurrency: 1,
          eachBatch: async (batch) => {
            for (const record of batch.records) {
              if (firstSeen.length === 12) return;
              firstSeen.push(record.value!.toString());
              if (firstSeen.length === 12) {
                await first.commit([
                  { topic, partition: 0, offset: String(Number(record.offset) + 1) },
                ]);
                batch.resolveOffset(record.offset);
              }
            }
          },
        });
        await waitFor("12 records, committed", () => firstSeen.length === 12);
        await first.disconnect();

        const second = consumer(name, groupId);
        const secondSeen: string[] = [];
        await second.connect();
        await second.subscribe(topic);
        await second.run({
          concurrency: 1,
          eachBatch: (batch) => {
            secondSeen.push(...batch.records.map((r) => r.value!.toString()));
            batch.resolveOffset(batch.records[batch.records.length - 1]!.offset);
            return Promise.resolve();
          },
        });
        await waitFor("the rest", () => secondSeen.length >= 8);
        assert.deepEqual(
          secondSeen,
          Array.from({ length: 8 }, (_, i) => `p0-${i + 12}`),
        );
      },
    );

    it(
      `${name}: a transaction's outputs and its offset commit show together, or not at all`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = await topicWith(1, 5);
        const { out } = await kafka.topics(["out"], 1);
        const groupId = `sluice-port-${randomUUID()}`;
        const kafkaClient = client(name, kafka.brokers);
        const c = kafkaClient.consumer({
          groupId,
          groupInstanceId: `port-${randomUUID().slice(0, 8)}`,
          maxWaitTimeMs: DEFAULT_FETCH_MAX_WAIT_MS,
          sessionTimeoutMs: 6_000,
        });
        open.push(c);
        const transactions = kafkaClient.transactionalProducer(c);
        open.push(transactions);
        await transactions.connect();
        let done = false;
        let failedOnce = false;
        await c.connect();
        await c.subscribe(topic);
        await c.run({
          concurrency: 1,
          eachBatch: async (batch) => {
            const last = batch.records[batch.records.length - 1]!;
            const outputs = batch.records.map((r) => ({
              topic: out,
              key: r.key,
              value: r.value,
              headers: {},
            }));
            const offsets = [{ topic, partition: 0, offset: String(Number(last.offset) + 1) }];
            if (!failedOnce) {
              // Offsets for a partition of another topic this member does not own: refused, and
              // nothing of the transaction may become visible.
              failedOnce = true;
              await assert.rejects(
                transactions.sendWithOffsets(outputs, [{ ...offsets[0]!, topic: out }]),
              );
            }
            await transactions.sendWithOffsets(outputs, offsets);
            batch.resolveOffset(last.offset);
            done = true;
          },
        });
        await waitFor("the transaction committed", () => done);
        const read = await collectTopics({
          brokers: kafka.brokers,
          topics: [out],
          timeoutMs: 20_000,
          until: (records) => records.length >= 5,
        });
        assert.deepEqual(
          read.records.map((r) => r.value?.toString()),
          Array.from({ length: 5 }, (_, i) => `p0-${i}`),
          "the committed transaction's records, once",
        );
        assert.equal((await kafka.admin.committedOffsets(groupId, topic)).get(0), 5);
      },
    );
  }

  it(
    "platformatic: a producer in a thread of its own writes what it is given where the caller's thread would, and fails a send it cannot deliver",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const partitions = 4;
      const { out } = await kafka.topics(["out"], partitions);
      const records = (from: number): OutputRecord[] =>
        Array.from({ length: 150 }, (_, j) => {
          const i = from + j;
          return {
            topic: out,
            key: `user-${i % 9}`,
            value: JSON.stringify({ id: `tx-${i}`, note: "façade ☃" }),
            headers: {
              "sluice-source-offset": String(i),
              "sluice-model-version": "3",
              x: ["a", Buffer.from([0, 255])],
            },
          };
        });
      const producer = new PlatformaticClient({
        brokers: kafka.brokers,
        clientId: "sluice-port-test-thread",
        compression: "zstd",
      }).producer({ ownThread: true });
      open.push(producer);
      await producer.connect();
      // Two micro-batches at once: they share the thread, each resolves when acknowledged.
      await Promise.all([producer.send(records(0)), producer.send(records(150))]);
      const read = await collectTopics({
        brokers: kafka.brokers,
        topics: [out],
        timeoutMs: 20_000,
        until: (got) => got.length >= 300,
      });
      assert.equal(read.records.length, 300, "every record, once");
      const place = keyPartitioner();
      const lastOffset = new Map<string, number>();
      for (const r of read.records) {
        const key = r.key!.toString();
        assert.equal(r.partition, place(undefined, r.key!) % partitions, `${key}'s partition`);
        const offset = Number(r.headers["sluice-source-offset"]!.toString());
        assert.ok(offset > (lastOffset.get(key) ?? -1), `${key}'s records in the order sent`);
        lastOffset.set(key, offset);
        assert.deepEqual(JSON.parse(r.value!.toString()), { id: `tx-${offset}`, note: "façade ☃" });
        assert.equal(r.headers["sluice-model-version"]!.toString(), "3");
        const x = r.headers["x"] as Buffer[];
        assert.deepEqual(
          x.map((v) => v.toString("hex")),
          ["61", "00ff"],
        );
      }
      // A record the broker refuses (over its 1 MB message.max.bytes, zstd or not): that send
      // fails with the broker's reason, and the thread goes on with the next.
      const [tooLarge] = records(300);
      const noise = randomBytes(1_500_000).toString("base64");
      await assert.rejects(producer.send([{ ...tooLarge!, value: noise }]), {
        code: "PLT_KFK_MULTIPLE",
        message: /Producing messages failed.*\(.*(Produce|too large|TOO_LARGE)/i,
      });
      await producer.send(records(300));
      await producer.disconnect();
      await assert.rejects(producer.send(records(450)), /disconnected/);
    },
  );
});

/** A key that Java's partitioner (and so every producer here) puts on `partition` of `partitions`. */
function keyFor(partition: number, partitions: number): string {
  const place = keyPartitioner();
  for (let i = 0; ; i++) {
    if (place(undefined, Buffer.from(`k${i}`)) % partitions === partition) return `k${i}`;
  }
}
