import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Partitioners } from "kafkajs";
import {
  murmur2 as platformaticMurmur2,
  type KafkaRecord,
  type RecordsBatch,
} from "@platformatic/kafka";
import type { InputRecord } from "../ports/kafka.js";
import { appendRecords, keyPartitioner, murmur2, toMessage } from "./platformatic-records.js";

function record(offsetDelta: number, value: string, headers: KafkaRecord["headers"] = []) {
  return {
    length: 0,
    attributes: 0,
    timestampDelta: BigInt(offsetDelta * 10),
    offsetDelta,
    key: Buffer.from("k"),
    value: Buffer.from(value),
    headers,
  } satisfies KafkaRecord;
}

function batch(firstOffset: number, records: KafkaRecord[], attributes = 0): RecordsBatch {
  return {
    firstOffset: BigInt(firstOffset),
    length: 0,
    partitionLeaderEpoch: 3,
    magic: 2,
    crc: 0,
    attributes,
    lastOffsetDelta: records.length - 1,
    firstTimestamp: 1_700_000_000_000n,
    maxTimestamp: 0n,
    producerId: -1n,
    producerEpoch: -1,
    firstSequence: -1,
    records,
  };
}

/** Kafka's attribute bit of a control batch (a transaction's commit or abort marker). */
const CONTROL = 1 << 5;

describe("platformatic records", () => {
  it("turns fetched batches into input records from the requested offset on, markers skipped", () => {
    const into: InputRecord[] = [];
    const next = appendRecords(
      [
        // A whole batch comes back even when the fetch asked for its middle.
        batch(10, [record(0, "a"), record(1, "b"), record(2, "c")]),
        batch(13, [record(0, "marker")], CONTROL),
        batch(14, [
          record(0, "d", [
            [Buffer.from("traceparent"), Buffer.from("00-ab")],
            [Buffer.from("x"), Buffer.from("1")],
            [Buffer.from("x"), null],
          ]),
        ]),
      ],
      11n,
      into,
    );
    assert.equal(next, 15n, "the next fetch starts after the last batch, the marker included");
    assert.deepEqual(
      into.map((r) => [r.offset, r.value?.toString(), r.timestamp]),
      [
        ["11", "b", "1700000000010"],
        ["12", "c", "1700000000020"],
        ["14", "d", "1700000000000"],
      ],
    );
    assert.deepEqual(into[0]!.headers, {});
    assert.deepEqual(into[2]!.headers, {
      traceparent: Buffer.from("00-ab"),
      x: [Buffer.from("1"), Buffer.alloc(0)],
    });
  });

  it("skips batches wholly before the requested offset", () => {
    const into: InputRecord[] = [];
    assert.equal(appendRecords([batch(0, [record(0, "old")])], 5n, into), 5n);
    assert.deepEqual(into, []);
  });

  it("makes producer messages with bytes, one header entry per value", () => {
    const message = toMessage({
      topic: "out",
      key: "user-1",
      value: "{}",
      headers: { a: "1", b: [Buffer.from("2"), "3"], gone: undefined },
    });
    assert.equal(message.topic, "out");
    assert.deepEqual(message.key, Buffer.from("user-1"));
    assert.deepEqual(message.value, Buffer.from("{}"));
    const headers = [...(message.headers as Map<Buffer, Buffer>)].map(([k, v]) => [
      k.toString(),
      v.toString(),
    ]);
    assert.deepEqual(headers, [
      ["a", "1"],
      ["b", "2"],
      ["b", "3"],
    ]);
    assert.equal(
      toMessage({ topic: "out", key: null, value: null, headers: {} }).headers,
      undefined,
    );
  });

  it("encodes a header value once while it repeats, and each new value anew", () => {
    const value = (text: string) =>
      [
        ...(toMessage({ topic: "out", key: null, value: null, headers: { v: text } })
          .headers as Map<Buffer, Buffer>),
      ][0]![1];
    const first = value("7");
    assert.equal(value("7"), first, "the same Buffer while the value repeats");
    const changed = value("8");
    assert.notEqual(changed, first);
    assert.deepEqual(
      [first.toString(), changed.toString(), value("7").toString()],
      ["7", "8", "7"],
    );
    assert.equal(first.toString(), "7", "a Buffer handed out is never rewritten");
  });

  it("hashes as Kafka's Utils.murmur2 does (its own test vectors, and @platformatic/kafka's murmur2)", () => {
    // Kafka's UtilsTest.testMurmur2.
    const vectors: [string, number][] = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
    ];
    for (const [text, hash] of vectors) assert.equal(murmur2(Buffer.from(text)), hash, text);
    // Every tail length and byte value, against the library's BigInt implementation.
    let seed = 1;
    for (let i = 0; i < 2_000; i++) {
      const key = Buffer.alloc(i % 37);
      for (let j = 0; j < key.length; j++) key[j] = (seed = (seed * 48271) % 0x7fffffff) & 0xff;
      assert.equal(murmur2(key), platformaticMurmur2(key), key.toString("hex"));
    }
  });

  it("places keyed records on the partition kafkajs (and Java) would", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const ours = keyPartitioner();
    const partitionMetadata = Array.from({ length: 12 }, (_, partitionId) => ({
      partitionId,
      leader: 1,
      partitionErrorCode: 0,
      replicas: [1],
      isr: [1],
    }));
    for (let i = 0; i < 500; i++) {
      const key = Buffer.from(`user-${i * 7919}`);
      const expected = kafkajs({ topic: "t", partitionMetadata, message: { key, value: null } });
      assert.equal(ours(undefined, key) % 12, expected, `key ${key.toString()}`);
    }
  });

  it("spreads records without a key over the partitions", () => {
    const ours = keyPartitioner();
    const seen = new Set(Array.from({ length: 8 }, () => ours(undefined, undefined) % 4));
    assert.equal(seen.size, 4);
  });
});
