/**
 * Static per-entity lookups (a field of a Redis hash such as `user:42` → `home_country`) with an
 * in-process TTL cache. Misses are not fetched here: a `LookupBatch` collects them, the feature
 * store reads them in the round trip that writes the batch's state (zero extra round trips), and
 * the batch fills the cache with the answers.
 */
import type { LookupRequest } from "../ports/feature-store.js";

/** Bounds memory to roughly 100k × (key + value) — a few tens of MB — whatever the key cardinality. */
export const DEFAULT_LOOKUP_CACHE_MAX_ENTRIES = 100_000;

export interface LookupCacheOptions {
  /** Least recently used entries beyond this are evicted. @default 100000 */
  readonly maxEntries?: number;
  /** Clock, in ms. @default Date.now */
  readonly now?: () => number;
}

interface Entry {
  /** null: the record or field does not exist (cached too, so unknown entities cost no reads). */
  readonly value: string | null;
  readonly expiresAt: number;
}

export function cacheKey(key: string, field: string): string {
  return `${key}\u0000${field}`;
}

export class LookupCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;
  hits = 0;
  misses = 0;

  constructor(options: LookupCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_LOOKUP_CACHE_MAX_ENTRIES;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 0) {
      throw new RangeError(`maxEntries: expected an integer ≥ 0, got ${this.#maxEntries}`);
    }
  }

  /** The cache's clock, in ms. */
  now(): number {
    return this.#now();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached value (null = known to be missing), or undefined when absent or expired. */
  get(key: string, field: string): { readonly value: string | null } | undefined {
    return this.lookup(cacheKey(key, field), this.#now());
  }

  /** `get` by the entry's id (`cacheKey`) at time `now`: a micro-batch reads the clock once. */
  lookup(id: string, now: number): { readonly value: string | null } | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.expiresAt <= now) {
      if (entry !== undefined) this.#entries.delete(id);
      this.misses += 1;
      return undefined;
    }
    // Re-insert so Map order is least recently used first.
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    this.hits += 1;
    return entry;
  }

  set(key: string, field: string, value: string | null, ttlMs: number): void {
    if (this.#maxEntries === 0 || ttlMs <= 0) return;
    const id = cacheKey(key, field);
    this.#entries.delete(id);
    this.#entries.set(id, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * The lookups one micro-batch needs: each distinct (key, field) is read at most once per batch
 * and not at all while cached.
 */
export class LookupBatch {
  readonly #cache: LookupCache;
  readonly #handles = new Map<string, number>();
  readonly #values: (string | null | undefined)[] = [];
  readonly #ttls: number[] = [];
  readonly #requests: LookupRequest[] = [];
  /** Handle of each miss, in `misses` order. */
  readonly #missHandles: number[] = [];

  /** When the batch began: its cache reads all use this time. */
  readonly #now: number;

  constructor(cache: LookupCache) {
    this.#cache = cache;
    this.#now = cache.now();
  }

  /** Registers a needed value; read it with `value(handle)` once the batch is filled. */
  need(key: string, field: string, ttlMs: number): number {
    const id = cacheKey(key, field);
    const known = this.#handles.get(id);
    if (known !== undefined) {
      this.#ttls[known] = Math.min(this.#ttls[known] ?? ttlMs, ttlMs);
      return known;
    }
    const handle = this.#values.length;
    this.#handles.set(id, handle);
    this.#ttls.push(ttlMs);
    const cached = this.#cache.lookup(id, this.#now);
    this.#values.push(cached?.value);
    if (cached === undefined) {
      this.#requests.push({ key, field });
      this.#missHandles.push(handle);
    }
    return handle;
  }

  /** What the store must read for this batch. */
  get misses(): readonly LookupRequest[] {
    return this.#requests;
  }

  /** Stores the store's answers (in `misses` order) in the batch and the cache. */
  fill(values: readonly (string | null)[]): void {
    this.#requests.forEach((request, i) => {
      const handle = this.#missHandles[i]!;
      const value = values[i] ?? null;
      this.#values[handle] = value;
      this.#cache.set(request.key, request.field, value, this.#ttls[handle] ?? 0);
    });
  }

  /** The value (null = missing); undefined only if asked before `fill`. */
  value(handle: number): string | null | undefined {
    return this.#values[handle];
  }
}
