import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BUCKETS, entityBucket, murmur3, saltSeed } from "./entity-bucket.js";

describe("murmur3", () => {
  it("matches MurmurHash3 x86_32 (values from Python's mmh3.hash(key, seed, signed=False))", () => {
    const vectors: [string, number, number][] = [
      ["", 0, 0],
      ["", 1, 1364076727],
      ["", 0xffffffff, 2180083513],
      ["abc", 0, 3017643002],
      ["Hello, world!", 0x9747b28c, 612912314],
      ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 799549133],
      ["u-123", 0, 3457824435],
      // two-, three- and four-byte UTF-8
      ["é", 7, 312290774],
      ["日本語", 42, 3318144696],
      ["😀x", 3, 1382361842],
    ];
    for (const [key, seed, expected] of vectors) {
      assert.equal(murmur3(key, seed), expected, `${JSON.stringify(key)} seed ${seed}`);
    }
  });

  it("hashes a lone surrogate as U+FFFD, as TextEncoder encodes it", () => {
    assert.equal(murmur3("a\ud800b", 5), murmur3("a\ufffdb", 5));
    assert.equal(murmur3("\udc00", 5), murmur3("\ufffd", 5));
  });
});

describe("entityBucket", () => {
  it("is mmh3.hash(key, mmh3.hash(salt, 0)) mod 10000", () => {
    const seed = saltSeed("fraud");
    assert.equal(seed, 80775505);
    assert.equal(entityBucket("user-00042", seed), 4254843148 % BUCKETS);
  });

  it("spreads sequential ids evenly over the buckets (chi-square, 100 groups of 100 buckets)", () => {
    const seed = saltSeed("fraud");
    const groups = new Array<number>(100).fill(0);
    const n = 200_000;
    for (let i = 0; i < n; i++) groups[Math.floor(entityBucket(`u-${i}`, seed) / 100)]!++;
    const expected = n / 100;
    const chi2 = groups.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 99 degrees of freedom: P(chi2 > 148) < 0.001 for a uniform hash.
    assert.ok(chi2 < 148, `chi-square ${chi2.toFixed(1)} over 99 degrees of freedom`);
  });

  it("gives independent buckets under another salt", () => {
    const a = saltSeed("fraud");
    const b = saltSeed("fraud-2");
    let same = 0;
    for (let i = 0; i < 10_000; i++) {
      if (entityBucket(`u-${i}`, a) < 5_000 === entityBucket(`u-${i}`, b) < 5_000) same++;
    }
    // Independent halves agree half the time: 5000 ± 3.3 sigma (sigma 50).
    assert.ok(Math.abs(same - 5_000) < 165, `${same} of 10000 agree`);
  });
});
