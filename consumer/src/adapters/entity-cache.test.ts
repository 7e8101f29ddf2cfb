import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EntityCache } from "./entity-cache.js";

describe("EntityCache", () => {
  it("drops the least recently used beyond maxBytes, down to 90 % of it", () => {
    const cache = new EntityCache<string>(1_000, 1_000);
    const owner = cache.ownership(0);
    for (let i = 0; i < 10; i++) cache.set(owner, `k${i}`, `v${i}`, 100);
    cache.get("k0"); // used last: stays
    cache.set(owner, "k10", "v10", 100);
    assert.equal(cache.bytes, 1_100);
    cache.trim();
    assert.equal(cache.bytes, 900);
    assert.equal(cache.get("k0"), "v0");
    assert.equal(cache.get("k1"), undefined, "the least recently used went");
    assert.equal(cache.get("k2"), undefined);
    assert.equal(cache.get("k10"), "v10");
  });

  it("follows an entry's growth (resize) and counts it against the bound", () => {
    const cache = new EntityCache<string>(1_000, 1_000);
    const owner = cache.ownership(0);
    cache.set(owner, "small", "s", 100);
    cache.set(owner, "busy", "b", 100);
    cache.resize("busy", 1_500);
    assert.equal(cache.bytes, 1_600);
    cache.trim();
    // "small" is older, so it goes first; "busy" alone is still beyond the bound and goes too.
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
    cache.resize("gone", 10);
    assert.equal(cache.bytes, 0, "resizing what is not held changes nothing");
  });

  it("keeps the byte count through replace, delete, retain and clear", () => {
    const cache = new EntityCache<string>(1_000);
    const [p0, p1] = [cache.ownership(0), cache.ownership(1)];
    cache.set(p0, "a", "1", 10);
    cache.set(p0, "a", "2", 30);
    cache.set(p1, "b", "3", 50);
    assert.equal(cache.bytes, 80);
    cache.delete("a");
    assert.equal(cache.bytes, 50);
    cache.set(p0, "c", "4", 5);
    cache.retain([0]);
    assert.equal(cache.bytes, 5);
    cache.clear();
    assert.equal(cache.bytes, 0);
  });

  it("still bounds the count, and rejects a bound that is not one", () => {
    const cache = new EntityCache<number>(10);
    const owner = cache.ownership(0);
    for (let i = 0; i < 11; i++) cache.set(owner, `k${i}`, i);
    cache.trim();
    assert.equal(cache.size, 9);
    assert.throws(() => new EntityCache(10, -1), /maxBytes: expected ≥ 0, got -1/);
    assert.throws(() => new EntityCache(1.5), /maxEntries: expected an integer ≥ 0, got 1.5/);
  });
});
