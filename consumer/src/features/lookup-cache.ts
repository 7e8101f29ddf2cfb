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
  /** Beyond this, entries are evicted least recently used first (by second chance). @default 100000 */
  readonly maxEntries?: number;
  /** Clock, in ms. @default Date.now */
  readonly now?: () => number;
}

interface Entry {
  /** null: the record or field does not exist (cached too, so unknown entities cost no reads). */
  readonly value: string | null;
  readonly expiresAt: number;
  /** Read since it was last (re)inserted: spared once by eviction (second chance). */
  used: boolean;
}

/**
 * Entries by field, then by key: a read hashes the event's key string alone, where one map of
 * `key + field` strings built a new string to hash per event. Eviction is least recently used
 * by second chance (an entry read since its insertion goes to the back once, instead of every
 * read moving it), which costs a read no map update: at the pipeline's maximum drain the two
 * cost about 2 % of the consumer's thread.
 */
export class LookupCache {
  readonly #fields = new Map<string, Map<string, Entry>>();
  /** Every entry's (field map, key), oldest insertion first, for eviction across fields. */
  readonly #order = new Map<Entry, readonly [Map<string, Entry>, string]>();
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
    return this.#order.size;
  }

  /** The cached value (null = known to be missing), or undefined when absent or expired. */
  get(key: string, field: string): { readonly value: string | null } | undefined {
    return this.lookup(key, field, this.#now());
  }

  /** `get` at time `now`: a micro-batch reads the clock once. */
  lookup(key: string, field: string, now: number): { readonly value: string | null } | undefined {
    const entries = this.#fields.get(field);
    const entry = entries?.get(key);
    if (entry === undefined || entry.expiresAt <= now) {
      if (entry !== undefined) {
        entries!.delete(key);
        this.#order.delete(entry);
      }
      this.misses += 1;
      return undefined;
    }
    entry.used = true;
    this.hits += 1;
    return entry;
  }

  set(key: string, field: string, value: string | null, ttlMs: number): void {
    if (this.#maxEntries === 0 || ttlMs <= 0) return;
    let entries = this.#fields.get(field);
    if (entries === undefined) this.#fields.set(field, (entries = new Map<string, Entry>()));
    const previous = entries.get(key);
    if (previous !== undefined) this.#order.delete(previous);
    const entry: Entry = { value, expiresAt: this.#now() + ttlMs, used: false };
    entries.set(key, entry);
    this.#order.set(entry, [entries, key]);
    this.#evict();
  }

  clear(): void {
    this.#fields.clear();
    this.#order.clear();
  }

  /** Down to `maxEntries`: the oldest entry not read since its insertion goes. */
  #evict(): void {
    const order = this.#order;
    while (order.size > this.#maxEntries) {
      const oldest = order.entries().next();
      if (oldest.done === true) return;
      const [entry, place] = oldest.value;
      order.delete(entry);
      if (entry.used) {
        entry.used = false;
        order.set(entry, place);
      } else {
        place[0].delete(place[1]);
      }
    }
  }
}

/**
 * The lookups one micro-batch needs: each distinct (key, field) is read at most once per batch
 * and not at all while cached.
 */
export class LookupBatch {
  readonly #cache: LookupCache;
  /** Handles by field, then key. */
  readonly #handles = new Map<string, Map<string, number>>();
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
    let handles = this.#handles.get(field);
    if (handles === undefined) this.#handles.set(field, (handles = new Map<string, number>()));
    const known = handles.get(key);
    if (known !== undefined) {
      this.#ttls[known] = Math.min(this.#ttls[known] ?? ttlMs, ttlMs);
      return known;
    }
    const handle = this.#values.length;
    handles.set(key, handle);
    this.#ttls.push(ttlMs);
    const cached = this.#cache.lookup(key, field, this.#now);
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
