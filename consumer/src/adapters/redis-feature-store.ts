/**
 * The feature store for partition-owned state, with Redis as its durable copy. Events are keyed
 * by entity, so the member that owns a partition is the only writer of its entities' state: it
 * keeps that state in memory (an `EntityLog` per entity and partition, in an `EntityCache`),
 * answers windows and previous events in JS, and tells Redis only what is new.
 *
 * - **In Redis**, per entity and partition, a string of packed records (`entity-log-codec.ts`)
 *   under `<prefix><layout>:{<entity>}:<partition>`; the layout hash covers the pipeline's group,
 *   input topic and tracked values, so another pipeline or another spec never reads it.
 * - **Load**: an entity not in memory is read from Redis; all of a micro-batch's misses are one
 *   MGET. Nothing is read on assignment: a partition's entities load as they come.
 * - **Write**: each entity's new records are appended; the whole micro-batch's appends and the
 *   lookups it misses are ONE command (`state-write-script.ts`), all or nothing. `apply`
 *   resolves only once Redis has acknowledged it, so a batch's offsets are never committed
 *   before its state is safe.
 * - **Prune**: memory drops rows no window can reach as it goes. Redis's copy is rewritten (in
 *   place of that entity's append) only once its stale bytes outweigh the live ones, so writing
 *   stays proportional to what is new.
 * - **Replay**: an event at or below the entity's highest recorded offset was recorded before (the
 *   uncommitted tail a crash replays, a retried batch): it is answered from the rows up to its
 *   offset and never recorded again. A load keeps one record per offset. Pruning keeps what an
 *   event up to the retention slack (`redis.retention_slack`, 1 h) older than the entity's oldest
 *   in its last two batches can see, so a replay is exact as far back as that, in event time.
 *   At-least-once replays no further: a partition delivers its batches in order, one while the
 *   next is processed, so a crash or a failed delivery replays at most those two. Offsets reset
 *   further back (by hand, or a test's rewind) reach rows that may be gone, depending on whether a
 *   rewrite happened since: such a replay is answered from what is left. Its windows miss rows (a
 *   mean over none is NaN, and the event is dead-lettered) and its previous event may be missing;
 *   a slack as long as the reset's event time keeps it exact.
 * - **Expiry**: a key lives the longest window or since_previous cap plus the slack after its
 *   last write (7 d 1 h for the example): the last event must outlive the cap. An idle entity
 *   keeps its last day's records that long; that costs Redis memory, not CPU.
 * - **Revoke**: `assigned` drops the entities of partitions this member no longer owns.
 * - **Verify**: the write goes through only if every key is the length this member expects. If
 *   one is not, someone else wrote it (a member that took the partition while this one was
 *   frozen), or it expired, or Redis lost it: nothing is written, the batch's entities leave
 *   memory and the batch fails retryably, so its retry answers from what Redis holds.
 *
 * Standalone Redis (or a primary behind Sentinel): a batch's keys must live on one server.
 */
import { createHash } from "node:crypto";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Redis } from "ioredis";
import { errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { connectFailFast } from "./redis-connection.js";
import { EntityLog, layoutOf, type EntityLayout } from "../features/entity-log.js";
import type {
  FeatureStore,
  StatePlan,
  StoreEvent,
  StoreRequest,
  StoreResponse,
} from "../ports/feature-store.js";
import { EntityCache, type Ownership } from "./entity-cache.js";
import {
  CorruptLogError,
  decodeLog,
  encodeRowsInto,
  recordSize,
  rowsSize,
} from "./entity-log-codec.js";
import {
  LENGTHS_STRIDE,
  STATE_WRITE_SCRIPT,
  STATE_WRITE_SCRIPT_SHA,
  WRITE_MODES,
} from "./state-write-script.js";

const tracer = trace.getTracer("@sluice/consumer");

/** Namespaces the store's keys in a shared Redis. */
export const DEFAULT_KEY_PREFIX = "sluice:features:";
/**
 * State is kept this long beyond the longest window (and since_previous cap): a replay after a
 * crash, or an event this late, still finds every row it needs, so it gets exact answers.
 */
export const DEFAULT_RETENTION_SLACK_MS = 3_600_000;
/** A batch waits at most this for Redis before failing retryably: a stuck store must not stall a partition silently. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
/** Connecting at start gives up after this. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
/**
 * Entities held in memory per member, all partitions together. With a dozen events each (the
 * fraud example's day) one costs ~1.7 KB (1 KB of heap, 0.7 KB of typed arrays; measured): about
 * 170 MB. Beyond it the least recently used are reloaded on demand.
 */
export const DEFAULT_MAX_CACHED_ENTITIES = 100_000;
/**
 * The entities' memory per member, estimated (`EntityLog.memoryBytes`): the bound that holds when
 * entities are few and busy, each keeping every event of its longest window. It must fit in the
 * consumer's V8 heap with room to spare: the soak's consumer held ~100 MB of its own beside the
 * state, and a 512 MiB container (deploy/kubernetes) gives Node.js a heap of a few hundred MB.
 * 128 MB holds ~75,000 entities of a dozen events each (~1.7 KB).
 */
export const DEFAULT_MAX_CACHED_BYTES = 128 * 2 ** 20;
/**
 * A key is rewritten only once its stale bytes also reach this: below it, the rewrite would cost
 * more than the few bytes it frees (the key expires anyway).
 */
const MIN_STALE_BYTES_TO_REWRITE = 512;

export interface RedisFeatureStoreOptions {
  /** @default "sluice:features:" */
  readonly keyPrefix?: string;
  /**
   * Whose state this is, e.g. the consumer group and input topic: two pipelines over the same
   * events keep separate state. @default "" (shared by every pipeline with the same spec)
   */
  readonly namespace?: string;
  /** Retention beyond the longest window and since_previous cap, in ms. @default 1 hour */
  readonly retentionSlackMs?: number;
  /** Entities held in memory; 0 holds none (every batch loads). @default 100000 */
  readonly maxCachedEntities?: number;
  /** Their estimated memory, in bytes; beyond it the least recently used go. @default 128 MiB */
  readonly maxCachedBytes?: number;
  /** Wall clock for key expiry, in ms. @default Date.now */
  readonly now?: () => number;
}

export interface RedisConnectOptions extends RedisFeatureStoreOptions {
  /** @default 2000 */
  readonly commandTimeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
}

interface ResolvedOptions {
  readonly keyPrefix: string;
  readonly namespace: string;
  readonly retentionSlackMs: number;
  readonly maxCachedEntities: number;
  readonly maxCachedBytes: number;
  readonly now: () => number;
}

function resolveOptions(options: RedisFeatureStoreOptions): ResolvedOptions {
  const retentionSlackMs = options.retentionSlackMs ?? DEFAULT_RETENTION_SLACK_MS;
  if (!Number.isInteger(retentionSlackMs) || retentionSlackMs < 0) {
    throw new ConsumerError(
      "config_invalid",
      `retentionSlackMs: expected an integer ≥ 0, got ${retentionSlackMs}`,
    );
  }
  const maxCachedEntities = options.maxCachedEntities ?? DEFAULT_MAX_CACHED_ENTITIES;
  if (!Number.isInteger(maxCachedEntities) || maxCachedEntities < 0) {
    throw new ConsumerError(
      "config_invalid",
      `maxCachedEntities: expected an integer ≥ 0, got ${maxCachedEntities}`,
    );
  }
  const maxCachedBytes = options.maxCachedBytes ?? DEFAULT_MAX_CACHED_BYTES;
  if (!Number.isInteger(maxCachedBytes) || maxCachedBytes < 0) {
    throw new ConsumerError(
      "config_invalid",
      `maxCachedBytes: expected an integer ≥ 0, got ${maxCachedBytes}`,
    );
  }
  return {
    keyPrefix: options.keyPrefix ?? DEFAULT_KEY_PREFIX,
    namespace: options.namespace ?? "",
    retentionSlackMs,
    maxCachedEntities,
    maxCachedBytes,
    now: options.now ?? Date.now,
  };
}

/** What the store knows of one entity in one partition. */
interface CachedEntity {
  readonly log: EntityLog;
  /** Bytes of its Redis key, as this member last read or wrote them. */
  stored: number;
  /** When this member last set the key's expiry (wall clock); 0 when it never did. */
  expirySetAt: number;
  /**
   * The oldest event time of the entity's last micro-batch that recorded something here (−∞
   * until one did since the load): that batch may still be undelivered while the next one is
   * recorded (a partition overlaps them), and a crash or a failed delivery replays both.
   */
  previousOldest: number;
}

/** One entity of one partition in a micro-batch. */
interface Group {
  readonly owner: Ownership;
  readonly entity: string;
  readonly key: string;
  /** Indices of its events in the request, by ascending offset. */
  readonly events: number[];
  state: CachedEntity | undefined;
  /** Rows this batch recorded: the last `fresh` rows of the log. */
  fresh: number;
}

/** What a batch writes for one entity. */
interface Write {
  readonly group: Group;
  readonly mode: (typeof WRITE_MODES)[keyof typeof WRITE_MODES];
  /** The first row it writes (its rows from there to the end). */
  readonly from: number;
  /** The bytes of those rows' records. */
  readonly bytes: number;
}

/** What the store did since it started; for tests and benchmarks. */
export interface FeatureStoreCounts {
  /** Round trips to Redis: loads and writes. */
  roundTrips: number;
  /** Entities read from Redis (cache misses). */
  loads: number;
  /** Entities whose new records were appended. */
  appends: number;
  /** Entities whose key was rewritten with their live records. */
  rewrites: number;
  /** Keys that were not what this member expected (see the module comment). */
  conflicts: number;
}

export class RedisFeatureStore implements FeatureStore {
  readonly #client: Redis;
  readonly #owned: boolean;
  readonly #options: ResolvedOptions;
  readonly #cache: EntityCache<CachedEntity>;
  readonly #prefixes = new WeakMap<StatePlan, string>();
  readonly counts: FeatureStoreCounts = {
    roundTrips: 0,
    loads: 0,
    appends: 0,
    rewrites: 0,
    conflicts: 0,
  };
  #closed = false;

  /**
   * Wraps a client the caller owns (and closes). Give it `maxRetriesPerRequest` and
   * `commandTimeout` so a lost Redis fails batches instead of queueing them forever.
   */
  constructor(client: Redis, options: RedisFeatureStoreOptions = {}, owned = false) {
    this.#client = client;
    this.#owned = owned;
    this.#options = resolveOptions(options);
    this.#cache = new EntityCache(this.#options.maxCachedEntities, this.#options.maxCachedBytes);
  }

  /**
   * Connects to `url` (`redis://host:port/db`) and fails fast: no offline queue (a command while
   * disconnected fails at once), one retry per command, bounded command time.
   */
  static async connect(url: string, options: RedisConnectOptions = {}): Promise<RedisFeatureStore> {
    const client = await connectFailFast(
      url,
      {
        commandTimeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      },
      "feature store",
    );
    const store = new RedisFeatureStore(client, options, true);
    return store;
  }

  /** Entities held in memory now. */
  get cachedEntities(): number {
    return this.#cache.size;
  }

  /** Their estimated memory now, in bytes (what `maxCachedBytes` bounds). */
  get cachedBytes(): number {
    return this.#cache.bytes;
  }

  assigned(partitions: readonly number[]): void {
    this.#cache.retain(partitions);
  }

  held(): { entities: number; bytes: number } {
    return { entities: this.#cache.size, bytes: this.#cache.bytes };
  }

  async apply(request: StoreRequest): Promise<StoreResponse> {
    const { plan, events, lookups } = request;
    if (this.#closed) throw new ConsumerError("closed", "feature store is closed");
    if (events.length === 0 && lookups.length === 0) {
      return { windowValues: new Float64Array(0), previousEventTimes: [], lookups: [] };
    }
    const offsets = events.map(offsetOf);
    const groups = this.#group(plan, events, offsets);
    const partitions = [...new Set(events.map((event) => event.partition))];
    return this.#cache.exclusive(partitions, () =>
      this.#applyGroups(plan, events, offsets, groups, lookups),
    );
  }

  /**
   * Deletes every key under this store's key prefix (SCAN, then UNLINK in batches) and forgets
   * what it holds in memory; resolves with how many keys went. Only for a store whose prefix is
   * its own, as a backtest's is: with a prefix shared with a live pipeline it would delete that
   * pipeline's state too.
   */
  async deleteState(): Promise<number> {
    this.#cache.clear();
    let deleted = 0;
    let cursor = "0";
    // The prefix is taken literally: glob characters in it are escaped.
    const pattern = `${this.#options.keyPrefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
    do {
      const [next, keys] = await this.#client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await this.#client.unlink(...keys);
    } while (cursor !== "0");
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.clear();
    if (this.#owned) await this.#client.quit().catch(() => this.#client.disconnect());
  }

  /** The batch's events by entity and partition, each group's events in offset order. */
  #group(plan: StatePlan, events: readonly StoreEvent[], offsets: readonly number[]): Group[] {
    const prefix = this.#prefix(plan);
    // By partition, then entity: no `partition:entity` string built and hashed per event (a
    // micro-batch is one partition's, so the outer map holds one entry).
    const byPartition = new Map<number, Map<string, Group>>();
    const groups: Group[] = [];
    for (let i = 0; i < events.length; i++) {
      const { entity, partition } = events[i]!;
      let byEntity = byPartition.get(partition);
      if (byEntity === undefined) byPartition.set(partition, (byEntity = new Map<string, Group>()));
      let group = byEntity.get(entity);
      if (group === undefined) {
        group = {
          owner: this.#cache.ownership(partition),
          entity,
          key: `${prefix}{${entity}}:${partition}`,
          events: [],
          state: undefined,
          fresh: 0,
        };
        byEntity.set(entity, group);
        groups.push(group);
      }
      group.events.push(i);
    }
    for (const group of groups) {
      const list = group.events;
      for (let j = 1; j < list.length; j++) {
        if (offsets[list[j]!]! < offsets[list[j - 1]!]!) {
          list.sort((a, b) => offsets[a]! - offsets[b]!);
          break;
        }
      }
    }
    return groups;
  }

  async #applyGroups(
    plan: StatePlan,
    events: readonly StoreEvent[],
    offsets: readonly number[],
    groups: readonly Group[],
    lookups: StoreRequest["lookups"],
  ): Promise<StoreResponse> {
    const layout = layoutOf(plan);
    const misses: Group[] = [];
    for (const group of groups) {
      group.state = this.#cache.get(group.key);
      if (group.state === undefined) misses.push(group);
    }
    if (misses.length > 0) await this.#load(layout, misses);

    const horizon = plan.windowHorizonMs + this.#options.retentionSlackMs;
    for (const group of groups) this.#record(group, events, offsets, horizon);

    const nWindows = plan.windows.length;
    const windowValues = new Float64Array(events.length * nWindows);
    const previousEventTimes: (number | undefined)[] = plan.sincePrevious
      ? new Array<number | undefined>(events.length)
      : [];
    for (const group of groups) {
      const log = group.state!.log;
      for (const i of group.events) {
        const offset = offsets[i]!;
        const time = events[i]!.eventTime;
        if (nWindows > 0) log.answer(offset, time, windowValues, i * nWindows);
        if (plan.sincePrevious) previousEventTimes[i] = log.previous(offset);
      }
    }

    const values = await this.#write(plan, groups, lookups);
    this.#cache.trim();
    return { windowValues, previousEventTimes, lookups: values };
  }

  /** Reads the missed entities in one MGET; a key that does not exist is an empty log. */
  async #load(layout: EntityLayout, misses: readonly Group[]): Promise<void> {
    const keys = misses.map((group) => group.key);
    const replies = await this.#roundTrip("MGET", misses.length, 0, () =>
      this.#client.mgetBuffer(...keys),
    );
    this.counts.loads += misses.length;
    misses.forEach((group, i) => {
      const bytes = replies[i] ?? null;
      let log: EntityLog;
      try {
        log = bytes === null ? new EntityLog(layout) : decodeLog(layout, bytes);
      } catch (error) {
        if (!(error instanceof CorruptLogError)) throw error;
        // Not something a retry fixes, and not something to guess around: whatever wrote there
        // is not this store. Stopping says so; deleting the key starts the entity over.
        throw new ConsumerError(
          "internal",
          `feature state "${group.key}" is not a log of this pipeline's layout (${error.message}); delete the key to start this entity over`,
          { cause: error, retryable: false },
        );
      }
      const cached: CachedEntity = {
        log,
        stored: bytes?.length ?? 0,
        expirySetAt: 0,
        previousOldest: -Infinity,
      };
      group.state = cached;
      this.#cache.set(group.owner, group.key, cached, log.memoryBytes);
    });
  }

  /** Pushes the group's new events into its log, then prunes what no event from here on needs. */
  #record(
    group: Group,
    events: readonly StoreEvent[],
    offsets: readonly number[],
    horizonMs: number,
  ): void {
    const state = group.state!;
    const log = state.log;
    let oldest = Infinity;
    for (const i of group.events) {
      const event = events[i]!;
      const offset = offsets[i]!;
      if (event.eventTime < oldest) oldest = event.eventTime;
      if (offset <= log.maxOffset) continue; // recorded before: a replay
      log.push(offset, event.eventTime, event.values, recordSize(log.layout, event.values));
      group.fresh++;
    }
    // Everything an event of this batch or of the one before it (or a replay of either, up to
    // the slack) can see stays. Right after a load the one before is unknown: nothing goes. A
    // retried batch records nothing new and leaves "the one before" as it was.
    log.prune(Math.min(oldest, state.previousOldest) - horizonMs);
    if (group.fresh > 0) state.previousOldest = oldest;
    this.#cache.resize(group.key, log.memoryBytes);
  }

  /**
   * ONE command: each entity's new records (appended, or its live records when a rewrite is due),
   * expiries, and the lookups. Resolves with the lookups' values once the write is acknowledged.
   */
  async #write(
    plan: StatePlan,
    groups: readonly Group[],
    lookups: StoreRequest["lookups"],
  ): Promise<(string | null)[]> {
    const pending = groups.filter((group) => group.fresh > 0);
    if (pending.length === 0 && lookups.length === 0) return [];
    const now = this.#options.now();
    const ttl =
      Math.max(plan.windowHorizonMs, plan.previousHorizonMs) + this.#options.retentionSlackMs;
    // Refreshing the expiry every half slack keeps at least horizon + slack/2 ahead of the clock.
    const refreshEvery = Math.floor(this.#options.retentionSlackMs / 2);

    const writes = pending.map((group): Write => {
      const { log, stored, expirySetAt } = group.state!;
      const from = log.length - group.fresh;
      const appended = rowsSize(log, from, log.length);
      const stale = stored + appended - log.size;
      if (stale >= log.size && stale >= MIN_STALE_BYTES_TO_REWRITE) {
        return { group, mode: WRITE_MODES.rewrite, from: 0, bytes: rowsSize(log, 0, log.length) };
      }
      const expiry = stored === 0 || now - expirySetAt >= refreshEvery;
      return {
        group,
        mode: expiry ? WRITE_MODES.appendWithExpiry : WRITE_MODES.append,
        from,
        bytes: appended,
      };
    });
    // Every write's records in one buffer, cut by the lengths table: a few arguments per command.
    let total = 0;
    for (const write of writes) total += write.bytes;
    const records = Buffer.allocUnsafe(total);
    const lengths = Buffer.allocUnsafe(writes.length * LENGTHS_STRIDE);
    const keys: string[] = new Array<string>(writes.length);
    let modes = "";
    let at = 0;
    for (let w = 0; w < writes.length; w++) {
      const write = writes[w]!;
      const log = write.group.state!.log;
      keys[w] = write.group.key;
      modes += write.mode;
      lengths.writeUInt32LE(write.group.state!.stored, w * LENGTHS_STRIDE);
      lengths.writeUInt32LE(write.bytes, w * LENGTHS_STRIDE + 4);
      at = encodeRowsInto(log, write.from, log.length, records, at);
    }
    if (at !== total) throw new RangeError(`encoded ${at} bytes of records, rows say ${total}`);
    const args: (string | number | Buffer)[] = [ttl, writes.length, modes, lengths, records];
    for (const lookup of lookups) {
      keys.push(lookup.key);
      args.push(lookup.field);
    }

    let reply: unknown[];
    try {
      reply = await this.#roundTrip("EVALSHA", writes.length, lookups.length, () =>
        this.#evalWrite(keys, args),
      );
    } catch (error) {
      // The write may have landed after all (a timeout): what this member holds for these
      // entities is not known to match Redis. They reload on the retry.
      for (const group of pending) this.#cache.delete(group.key);
      throw error;
    }

    const conflicts = (reply[0] ?? []) as number[];
    if (conflicts.length > 0) {
      // Nothing was written; the memory of every entity of the batch is ahead of Redis.
      for (const group of pending) this.#cache.delete(group.key);
      this.counts.conflicts += conflicts.length / 2;
      const examples: string[] = [];
      for (let c = 0; c < conflicts.length && examples.length < 3; c += 2) {
        const write = writes[conflicts[c]! - 1]!;
        examples.push(
          `${write.group.key}: expected ${write.group.state!.stored} bytes, Redis has ${conflicts[c + 1]}`,
        );
      }
      throw new ConsumerError(
        "store_unavailable",
        `feature store: the state of ${conflicts.length / 2} entit${conflicts.length === 2 ? "y" : "ies"} changed in Redis under this member (another member wrote it, or it expired or was lost): ${examples.join("; ")}; nothing written, reloading, the batch is retried`,
        { retryable: true },
      );
    }
    for (const write of writes) {
      const cached = write.group.state!;
      if (write.mode === WRITE_MODES.rewrite) {
        this.counts.rewrites++;
        cached.stored = write.bytes;
        cached.expirySetAt = now;
      } else {
        this.counts.appends++;
        cached.stored += write.bytes;
        if (write.mode === WRITE_MODES.appendWithExpiry) cached.expirySetAt = now;
      }
    }
    const values: (string | null)[] = new Array<string | null>(lookups.length);
    for (let l = 0; l < lookups.length; l++) {
      const value = reply[l + 1];
      values[l] = Buffer.isBuffer(value) ? value.toString("utf8") : null;
    }
    return values;
  }

  /** EVALSHA; after a Redis restart or SCRIPT FLUSH the script is loaded and the call sent again. */
  async #evalWrite(
    keys: readonly string[],
    args: readonly (string | number | Buffer)[],
  ): Promise<unknown[]> {
    // Buffer replies: lookups come back as bytes, decoded as UTF-8 once here.
    // One argument list, built once: a spread of keys and args per call is two iterators more.
    const list: (string | number | Buffer)[] = [STATE_WRITE_SCRIPT_SHA, keys.length];
    for (const key of keys) list.push(key);
    for (const arg of args) list.push(arg);
    const call = () => this.#client.callBuffer("EVALSHA", list) as Promise<unknown[]>;
    try {
      return await call();
    } catch (error) {
      // NOSCRIPT: the script did not run, so nothing was written; sending it again is safe.
      if (!errorMessage(error).startsWith("NOSCRIPT")) throw error;
      await this.#client.script("LOAD", STATE_WRITE_SCRIPT);
      return await call();
    }
  }

  /**
   * One round trip as a CLIENT span (database conventions): any error fails the batch with a
   * retryable store_unavailable, and no partial answers.
   */
  async #roundTrip<T>(
    operation: string,
    entities: number,
    lookups: number,
    call: () => Promise<T>,
  ): Promise<T> {
    const { host, port, db } = this.#client.options;
    this.counts.roundTrips++;
    return tracer.startActiveSpan(
      operation,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "redis",
          "db.operation.name": operation,
          "db.namespace": String(db ?? 0),
          "server.address": host ?? "localhost",
          "server.port": port ?? 6379,
          "sluice.store.entities": entities,
          "sluice.store.lookups": lookups,
        },
      },
      async (span) => {
        try {
          return await call();
        } catch (error) {
          const failure = new ConsumerError(
            "store_unavailable",
            `feature store (redis ${host ?? "?"}:${port ?? "?"}) failed a batch: ${errorMessage(error)}`,
            { cause: error, retryable: true },
          );
          span.setAttribute("error.type", failure.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
          throw failure;
        } finally {
          span.end();
        }
      },
    );
  }

  /** `<prefix><layout>:`; the layout hash changes with the namespace and the tracked values. */
  #prefix(plan: StatePlan): string {
    let prefix = this.#prefixes.get(plan);
    if (prefix === undefined) {
      const layout = createHash("sha1")
        .update(`log-v1\n${this.#options.namespace}\n${plan.trackedFields.join("\n")}`)
        .digest("hex")
        .slice(0, 8);
      prefix = `${this.#options.keyPrefix}${layout}:`;
      this.#prefixes.set(plan, prefix);
    }
    return prefix;
  }
}

/** A Kafka offset as a number: exact below 2^53 (a million events a second for 285 years). */
function offsetOf(event: StoreEvent): number {
  const offset = Number(event.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ConsumerError(
      "internal",
      `event offset: expected a decimal integer from 0 to 2^53, got "${event.offset}"`,
    );
  }
  return offset;
}
