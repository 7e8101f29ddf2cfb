/**
 * Which of 10,000 buckets an entity key falls in: the basis point that decides its rollout arm.
 *
 *   bucket(key) = murmur3_x86_32(utf8(key), seed = murmur3_x86_32(utf8(salt), 0)) mod 10000
 *
 * MurmurHash3 (x86, 32-bit) because it is one standard function that every language has (Python's
 * `mmh3.hash(key, seed, signed=False)`, Guava's `murmur3_32_fixed`), so an analyst can recompute
 * which arm a user was on from the salt and the key alone; and because its finaliser mixes every
 * input bit into the low bits a modulo reads. FNV-1a, the other obvious choice, does not: its low
 * bits depend only on the low bits of the input bytes, and its high bits barely move when only the
 * last byte changes (`u-1`, `u-2`, …), so neither a modulo nor a multiply-shift of it spreads
 * sequential ids evenly. 2^32 is not a multiple of 10,000: buckets below 7,296 get one more
 * preimage out of ~429,497, a bias of 2.3e-6, far below any weight anyone sets.
 *
 * The salt (per rollout; the pipeline's name by default) makes assignments of two rollouts
 * independent, and changing it reshuffles every user: a new experiment. The key is hashed as UTF-8
 * computed on the fly, so routing allocates nothing per event.
 */

/** Basis points: weights are whole hundredths of a percent. */
export const BUCKETS = 10_000;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The seed a salt stands for: murmur3_x86_32 of its UTF-8 bytes with seed 0. */
export function saltSeed(salt: string): number {
  return murmur3(salt, 0);
}

/** The entity's bucket in [0, 10000) under `seed` (from `saltSeed`). */
export function entityBucket(key: string, seed: number): number {
  return murmur3(key, seed) % BUCKETS;
}

/**
 * MurmurHash3 x86_32 of the UTF-8 encoding of `text` (lone surrogates as U+FFFD, as TextEncoder
 * does), as an unsigned 32-bit integer.
 */
export function murmur3(text: string, seed: number): number {
  let h = seed >>> 0;
  let block = 0; // bytes of the current 4-byte block, little-endian
  let filled = 0; // how many of them
  let length = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else cp = 0xfffd;
    } else if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;

    // The code point's UTF-8 bytes, at most four, packed first byte lowest.
    let bytes: number;
    let count: number;
    if (cp < 0x80) {
      bytes = cp;
      count = 1;
    } else if (cp < 0x800) {
      bytes = 0xc0 | (cp >> 6) | ((0x80 | (cp & 0x3f)) << 8);
      count = 2;
    } else if (cp < 0x10000) {
      bytes = 0xe0 | (cp >> 12) | ((0x80 | ((cp >> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16);
      count = 3;
    } else {
      bytes =
        0xf0 |
        (cp >> 18) |
        ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
        ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
        ((0x80 | (cp & 0x3f)) << 24);
      count = 4;
    }
    for (let b = 0; b < count; b++) {
      block |= ((bytes >>> (8 * b)) & 0xff) << (8 * filled);
      filled++;
      length++;
      if (filled === 4) {
        let k = Math.imul(block, C1);
        k = (k << 15) | (k >>> 17);
        k = Math.imul(k, C2);
        h ^= k;
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        block = 0;
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
