/**
 * The entity state a member keeps in memory, by partition: what the feature store answers
 * windows from without asking Redis. Three rules keep it exact:
 *
 * - **Only owned partitions.** When the group moves a partition away, its entries go at once
 *   (`retain`): its next owner writes that state from now on, and the copy here would go stale. A
 *   micro-batch still in flight for it holds a revoked `Ownership` and can put nothing back.
 * - **One micro-batch per partition at a time** (`exclusive`): a partition's batches are
 *   recorded in offset order, each seeing the state the one before left.
 * - **Bounded**: beyond `maxEntries` entries or `maxBytes` of their (estimated) memory, the least
 *   recently used entries are dropped, a tenth at a time (a use only stamps the entry: reordering
 *   a Map on every use cost more than the rest of the lookup). Nothing here is ever newer than
 *   Redis once a micro-batch has been answered, so dropping costs one reload. The byte bound is
 *   what holds when entities are few and busy: a count alone let a member's memory grow with
 *   every event of its longest window (a 10-minute soak of 5,000 users with 24 h windows grew
 *   the consumer's live heap by ~50 bytes an event, without end until the window passed).
 */

/** A partition as the cache knows it since it was last assigned; a revoked one takes no entries. */
export interface Ownership {
  readonly partition: number;
  revoked: boolean;
}

interface Entry<T> {
  readonly partition: number;
  readonly value: T;
  /** Its memory as last told (`set`, `resize`). */
  bytes: number;
  /** The cache's clock at its last use. */
  used: number;
}

/** Evicting down to this share of the bound makes eviction's sort rare: once per tenth of it. */
const EVICT_TO = 0.9;

export class EntityCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #owned = new Map<number, Ownership>();
  readonly #busy = new Map<number, Promise<void>>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #clock = 0;
  #bytes = 0;

  /** `maxBytes`: the entries' memory as their owners estimate it (`set`, `resize`). */
  constructor(maxEntries: number, maxBytes = Infinity) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`maxEntries: expected an integer ≥ 0, got ${maxEntries}`);
    }
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes: expected ≥ 0, got ${maxBytes}`);
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entries' memory, the sum of what `set` and `resize` were told. */
  get bytes(): number {
    return this.#bytes;
  }

  /** `partition`'s current ownership; the first batch of a partition starts it. */
  ownership(partition: number): Ownership {
    let owner = this.#owned.get(partition);
    if (owner === undefined) {
      owner = { partition, revoked: false };
      this.#owned.set(partition, owner);
    }
    return owner;
  }

  /** The value held under `key`, now the most recently used; undefined when not held. */
  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = ++this.#clock;
    return entry.value;
  }

  /**
   * Holds `value` under `key` (unique across partitions: the store's key of an entity in a
   * partition), unless `owner`'s partition was revoked meanwhile.
   */
  set(owner: Ownership, key: string, value: T, bytes = 0): void {
    if (owner.revoked || this.#maxEntries === 0 || this.#maxBytes === 0) return;
    this.#drop(key);
    this.#entries.set(key, { partition: owner.partition, value, bytes, used: ++this.#clock });
    this.#bytes += bytes;
  }

  /** The entry under `key` now holds `bytes` (its value grew or shrank); nothing if not held. */
  resize(key: string, bytes: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#bytes += bytes - entry.bytes;
    entry.bytes = bytes;
  }

  delete(key: string): void {
    this.#drop(key);
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#bytes -= entry.bytes;
    this.#entries.delete(key);
  }

  /** Keeps the entries of `partitions` only: the others belong to other members now. */
  retain(partitions: readonly number[]): void {
    const keep = new Set(partitions);
    for (const [partition, owner] of this.#owned) {
      if (keep.has(partition)) continue;
      owner.revoked = true;
      this.#owned.delete(partition);
    }
    for (const [key, entry] of this.#entries) {
      if (!keep.has(entry.partition)) this.#drop(key);
    }
  }

  /** Beyond either bound, drops the least recently used entries down to 90 % of both. */
  trim(): void {
    if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) return;
    const keep = Math.floor(this.#maxEntries * EVICT_TO);
    const keepBytes = this.#maxBytes * EVICT_TO;
    const byUse = [...this.#entries].sort(([, a], [, b]) => a.used - b.used);
    for (const [key] of byUse) {
      if (this.#entries.size <= keep && this.#bytes <= keepBytes) break;
      this.#drop(key);
    }
  }

  /** Drops everything; partitions start over. */
  clear(): void {
    for (const owner of this.#owned.values()) owner.revoked = true;
    this.#owned.clear();
    this.#entries.clear();
    this.#bytes = 0;
  }

  /**
   * Runs `body` once no earlier call for any of `partitions` is running, and holds them until it
   * settles: a partition's micro-batches are recorded one after the other, in call order.
   */
  async exclusive<R>(partitions: readonly number[], body: () => Promise<R>): Promise<R> {
    const before: Promise<void>[] = [];
    for (const partition of partitions) {
      const running = this.#busy.get(partition);
      if (running !== undefined) before.push(running);
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    for (const partition of partitions) this.#busy.set(partition, done);
    try {
      if (before.length > 0) await Promise.all(before);
      return await body();
    } finally {
      release();
      for (const partition of partitions) {
        if (this.#busy.get(partition) === done) this.#busy.delete(partition);
      }
    }
  }
}
