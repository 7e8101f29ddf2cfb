import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IS_CONTROL, IS_TRANSACTIONAL, type RecordsBatch } from "@platformatic/kafka";
import { committedBatches } from "./read-committed-consumer.js";

/** A batch of `count` records at `offset` from producer `pid`: data, or a commit/abort marker. */
function batch(offset: number, pid: number, kind: "data" | "commit" | "abort", count = 2) {
  const marker = Buffer.alloc(4);
  marker.writeInt16BE(kind === "commit" ? 1 : 0, 2);
  return {
    firstOffset: BigInt(offset),
    lastOffsetDelta: kind === "data" ? count - 1 : 0,
    producerId: BigInt(pid),
    attributes: IS_TRANSACTIONAL | (kind === "data" ? 0 : IS_CONTROL),
    records: [{ key: kind === "data" ? null : marker }],
  } as unknown as RecordsBatch;
}

const offsets = (batches: RecordsBatch[]) => batches.map((b) => Number(b.firstOffset));

describe("committedBatches", () => {
  it("drops every aborted transaction of a producer id and keeps its committed ones between them", () => {
    // Producer 7 (one transactional id, epochs bumped by restarts): commit, abort, commit, abort, commit.
    const batches = [
      batch(0, 7, "data"),
      batch(2, 7, "commit"),
      batch(3, 7, "data"),
      batch(5, 7, "abort"),
      batch(6, 7, "data"),
      batch(8, 7, "commit"),
      batch(9, 7, "data"),
      batch(11, 7, "abort"),
      batch(12, 7, "data"),
      batch(14, 7, "commit"),
    ];
    const aborted = [
      { producerId: 7n, firstOffset: 3n },
      { producerId: 7n, firstOffset: 9n },
    ];
    assert.deepEqual(offsets(committedBatches(batches, aborted)), [0, 2, 5, 6, 8, 11, 12, 14]);
  });

  it("keeps other producers' batches interleaved with an aborted transaction", () => {
    const batches = [
      batch(0, 1, "data"),
      batch(2, 2, "data"),
      batch(4, 1, "abort"),
      batch(5, 2, "commit"),
    ];
    assert.deepEqual(
      offsets(committedBatches(batches, [{ producerId: 1n, firstOffset: 0n }])),
      [2, 4, 5],
    );
  });

  it("drops an aborted transaction whose marker is in a later response", () => {
    const batches = [batch(0, 3, "data"), batch(2, 3, "data")];
    assert.deepEqual(offsets(committedBatches(batches, [{ producerId: 3n, firstOffset: 0n }])), []);
  });
});
