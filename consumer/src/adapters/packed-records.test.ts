import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageToProduce } from "@platformatic/kafka";
import type { OutputRecord } from "../ports/kafka.js";
import { RecordPacker, unpackMessages } from "./packed-records.js";
import { toMessage } from "./platformatic-records.js";

/** A message as bytes and text, comparable with deepEqual (header Maps are keyed by Buffers). */
function plain(message: MessageToProduce) {
  const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString("hex") : value);
  return {
    topic: message.topic,
    key: text(message.key),
    value: text(message.value),
    headers:
      message.headers instanceof Map
        ? [...message.headers].map(([name, value]) => [text(name), text(value)])
        : undefined,
  };
}

/** Packed, copied into shared memory as the producer thread gets it, and read back. */
function roundTrip(packer: RecordPacker, records: readonly OutputRecord[]): MessageToProduce[] {
  const { bytes, count, strings } = packer.pack(records);
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 100), 0, bytes.length);
  shared.set(bytes);
  return unpackMessages({ bytes: shared, count, strings });
}

const prediction = (offset: number, version = "3"): OutputRecord => ({
  topic: "predictions",
  key: Buffer.from(`user-${offset % 3}`),
  value: JSON.stringify({ id: `e${offset}`, score: 0.25, note: "façade ☃ 𝄞" }),
  headers: {
    "sluice-model-version": version,
    "sluice-source-topic": "transactions",
    "sluice-source-partition": "4",
    "sluice-source-offset": String(offset),
  },
});

describe("packed records", () => {
  it("reads back as the messages the producer would get from the records themselves", () => {
    const records: OutputRecord[] = [
      prediction(1),
      prediction(2),
      prediction(3, "4"),
      { topic: "dead-letters", key: null, value: null, headers: {} },
      {
        topic: "dead-letters",
        key: "text key",
        value: Buffer.from([0, 255, 1]),
        headers: {
          traceparent: Buffer.from("00-abc-01"),
          x: ["1", Buffer.from("2"), "1"],
          empty: "",
          "sluice-source-partition": "4",
        },
      },
      prediction(4),
    ];
    const messages = roundTrip(new RecordPacker(), records);
    assert.deepEqual(messages.map(plain), records.map(toMessage).map(plain));
  });

  it("gives a name repeated in a record a Buffer per value, and shares the rest", () => {
    const [first, second] = roundTrip(new RecordPacker(), [prediction(1), prediction(2)]);
    const firstNames = [...(first!.headers as Map<Buffer, Buffer>).keys()];
    const secondNames = [...(second!.headers as Map<Buffer, Buffer>).keys()];
    assert.deepEqual(firstNames, secondNames, "header names: one Buffer per name");
    const [repeated] = roundTrip(new RecordPacker(), [
      { topic: "t", key: null, value: "v", headers: { x: ["a", "b", "a"] } },
    ]);
    const headers = [...(repeated!.headers as Map<Buffer, Buffer>)];
    assert.deepEqual(
      headers.map(([name, value]) => [name.toString(), value.toString()]),
      [
        ["x", "a"],
        ["x", "b"],
        ["x", "a"],
      ],
    );
  });

  it("keeps the Buffers of a bounded number of header names", () => {
    const names = new Map<string, Buffer>();
    const packer = new RecordPacker();
    for (let i = 0; i < 300; i++) {
      const packed = packer.pack([
        { topic: "dead-letters", key: null, value: "v", headers: { [`x-${i}`]: "1" } },
      ]);
      const [message] = unpackMessages(packed, names);
      assert.deepEqual(plain(message!).headers, [[Buffer.from(`x-${i}`).toString("hex"), "31"]]);
    }
    assert.equal(names.size, 256);
  });

  it("grows for a large micro-batch, and packs a small one after it exactly", () => {
    const packer = new RecordPacker();
    const large = Array.from({ length: 300 }, (_, i) => ({
      ...prediction(i),
      value: "é".repeat(400) + String(i),
    }));
    assert.deepEqual(roundTrip(packer, large).map(plain), large.map(toMessage).map(plain));
    const small = [prediction(7)];
    const packed = packer.pack(small);
    assert.deepEqual(unpackMessages(packed).map(plain), small.map(toMessage).map(plain));
    assert.ok(packed.bytes.byteLength < 400, `${packed.bytes.byteLength} bytes for one record`);
  });

  it("refuses bytes that are not the records they claim to be", () => {
    const packed = new RecordPacker().pack([prediction(1), prediction(2)]);
    assert.throws(() => unpackMessages({ ...packed, count: 1 }), {
      name: "RangeError",
      message: /^unpacking 1 records: expected \d+ bytes, read \d+$/,
    });
  });
});
