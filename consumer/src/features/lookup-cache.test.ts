import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LookupBatch, LookupCache } from "./lookup-cache.js";

function clockAt(start: number): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe("LookupCache", () => {
  it("answers a value, a known miss (null) and nothing, per key and field", () => {
    const cache = new LookupCache({ now: () => 0 });
    cache.set("user:1", "home_country", "DE", 1_000);
    cache.set("user:2", "home_country", null, 1_000);
    assert.deepEqual(cache.get("user:1", "home_country")?.value, "DE");
    assert.equal(cache.get("user:2", "home_country")?.value, null);
    assert.equal(cache.get("user:1", "segment"), undefined, "another field of the same key");
    assert.equal(cache.get("user:3", "home_country"), undefined);
    assert.deepEqual([cache.hits, cache.misses, cache.size], [2, 2, 2]);
  });

  it("forgets an entry at its expiry, and a new value replaces the old one", () => {
    const clock = clockAt(100);
    const cache = new LookupCache({ now: clock.now });
    cache.set("user:1", "home_country", "DE", 50);
    clock.advance(49);
    assert.equal(cache.get("user:1", "home_country")?.value, "DE");
    clock.advance(1);
    assert.equal(cache.get("user:1", "home_country"), undefined);
    assert.equal(cache.size, 0);
    cache.set("user:1", "home_country", "FR", 50);
    cache.set("user:1", "home_country", "IT", 50);
    assert.equal(cache.get("user:1", "home_country")?.value, "IT");
    assert.equal(cache.size, 1);
  });

  it("evicts beyond maxEntries the oldest entry not read since it came (second chance)", () => {
    const cache = new LookupCache({ maxEntries: 3, now: () => 0 });
    cache.set("a", "f", "1", 1_000);
    cache.set("b", "g", "2", 1_000);
    cache.set("c", "f", "3", 1_000);
    assert.equal(cache.get("a", "f")?.value, "1");
    cache.set("d", "f", "4", 1_000);
    // a was read, so b (the oldest unread) went; a's second chance is used up.
    assert.equal(cache.size, 3);
    assert.equal(cache.get("b", "g"), undefined);
    cache.set("e", "f", "5", 1_000);
    assert.equal(cache.get("c", "f"), undefined, "c: unread, older than d");
    assert.deepEqual(
      ["a", "d", "e"].map((key) => cache.get(key, "f")?.value),
      ["1", "4", "5"],
    );
  });

  it("with maxEntries 0 or a ttl of 0 keeps nothing; refuses a negative bound", () => {
    const none = new LookupCache({ maxEntries: 0, now: () => 0 });
    none.set("a", "f", "1", 1_000);
    assert.equal(none.size, 0);
    const cache = new LookupCache({ now: () => 0 });
    cache.set("a", "f", "1", 0);
    assert.equal(cache.size, 0);
    assert.throws(
      () => new LookupCache({ maxEntries: -1 }),
      /maxEntries: expected an integer ≥ 0, got -1/,
    );
  });
});

describe("LookupBatch", () => {
  it("asks the store once per distinct (key, field) not cached, with the shortest ttl, and caches the answers", () => {
    const clock = clockAt(0);
    const cache = new LookupCache({ now: clock.now });
    cache.set("user:1", "home_country", "DE", 1_000);
    const batch = new LookupBatch(cache);
    const handles = [
      batch.need("user:1", "home_country", 500),
      batch.need("user:2", "home_country", 500),
      batch.need("user:2", "home_country", 200),
      batch.need("user:2", "segment", 500),
    ];
    assert.equal(handles[1], handles[2]);
    assert.notEqual(handles[1], handles[3]);
    assert.deepEqual(batch.misses, [
      { key: "user:2", field: "home_country" },
      { key: "user:2", field: "segment" },
    ]);
    assert.equal(batch.value(handles[0]!), "DE");
    assert.equal(batch.value(handles[1]!), undefined, "not filled yet");
    batch.fill(["FR", null]);
    assert.deepEqual(
      handles.map((handle) => batch.value(handle)),
      ["DE", "FR", "FR", null],
    );
    clock.advance(199);
    assert.equal(cache.get("user:2", "home_country")?.value, "FR");
    assert.equal(cache.get("user:2", "segment")?.value, null);
    clock.advance(1);
    assert.equal(cache.get("user:2", "home_country"), undefined, "the shortest ttl asked (200 ms)");
  });
});
