/**
 * A read_committed reader on @platformatic/kafka 2.12 after aborted transactions of one producer
 * (found by `npm run chaos`, consumer-sigkill-eos; docs/reliability.md, "Found"). A restarted
 * exactly-once member reuses its transactional id, so the coordinator gives it the same producer
 * id with a new epoch: the topic then holds committed and aborted transactions of ONE producer id.
 * The library's filter (`#filterUncommittedMessages` in its consumer) keeps one aborted range per
 * producer id per fetch response, ended by the LAST abort marker of that producer in the response:
 * it shows the records of every aborted transaction but the last, and hides the records of
 * committed transactions between two aborts. `sluice verify` (collectTopics) and the pipeline's
 * fetch loop both read through it, so a pipeline whose INPUT is written transactionally (another
 * exactly-once pipeline) would skip committed events and score aborted ones.
 *
 * The pipeline's own output is right (every id once, checked on the log segments with Kafka's
 * DumpLogSegments); what reads it is wrong. Marked todo until the library's filter is fixed or
 * replaced: it fails today, and passes with a correct filter.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Producer, ProduceAcks, stringSerializers } from "@platformatic/kafka";
import { collectTopics, STACK_TIMEOUT_MS, startTestKafka, type TestKafka } from "@sluice/testing";

describe("read_committed after aborted transactions of one producer id", () => {
  let kafka: TestKafka;
  before(async () => (kafka = await startTestKafka()), { timeout: STACK_TIMEOUT_MS });
  after(() => kafka.close());

  it("shows exactly the committed records", { timeout: 60_000 }, async () => {
    const { topic } = await kafka.topics(["topic"], 1);
    const producer = new Producer({
      clientId: "sluice-test",
      bootstrapBrokers: kafka.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      transactionalId: `sluice-test-${randomUUID()}`,
      producerId: -1n,
      producerEpoch: -1,
      serializers: stringSerializers,
    });
    try {
      // One producer id throughout: commit, abort, commit, abort, commit.
      const plan: [string, "commit" | "abort"][] = [
        ["a", "commit"],
        ["b", "abort"],
        ["c", "commit"],
        ["d", "abort"],
        ["e", "commit"],
      ];
      for (const [value, end] of plan) {
        const transaction = await producer.beginTransaction();
        await transaction.send({
          messages: [
            { topic, value },
            { topic, value: `${value}2` },
          ],
        });
        await (end === "commit" ? transaction.commit() : transaction.abort());
      }
    } finally {
      await producer.close();
    }
    const { records, complete } = await collectTopics({
      brokers: kafka.brokers,
      topics: [topic],
      timeoutMs: 20_000,
    });
    assert.ok(complete);
    assert.deepEqual(
      records.map((r) => r.value?.toString()),
      ["a", "a2", "c", "c2", "e", "e2"],
    );
  });
});
