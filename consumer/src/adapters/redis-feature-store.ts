/**
 * The feature store on Redis: sliding event-time windows, the previous event per entity, and
 * lookups of static records, all in ONE EVALSHA per micro-batch (see `window-script.ts` for the
 * data layout and why a replay changes nothing).
 *
 * Standalone Redis (or a primary behind Sentinel) only: the script touches many entities' keys,
 * which Redis Cluster refuses across slots. A cluster store would group the batch by slot and send
 * one EVALSHA per node in a pipeline.
 */
import { createHash } from "node:crypto";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { Redis, type RedisOptions } from "ioredis";
import { ConsumerError } from "../errors.js";
import type {
  FeatureStore,
  StatePlan,
  StoreEvent,
  StoreRequest,
  StoreResponse,
} from "../ports/feature-store.js";
import { VALUE_SEPARATOR, WINDOW_SCRIPT, WINDOW_SCRIPT_SHA } from "../features/window-script.js";
import { errorMessage } from "@sluice/kit";

const tracer = trace.getTracer("@sluice/consumer");

/** Namespaces the store's keys in a shared Redis. */
export const DEFAULT_KEY_PREFIX = "sluice:features:";
/**
 * State is kept this long beyond the longest window (and since_previous cap): a replay after a
 * crash, or an event this late, still finds every member it needs, so it gets exact answers.
 */
export const DEFAULT_RETENTION_SLACK_MS = 3_600_000;
/** A batch waits at most this for Redis before failing retryably: a stuck store must not stall a partition silently. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
/** Connecting at start gives up after this. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;

export interface RedisFeatureStoreOptions {
  /** @default "sluice:features:" */
  readonly keyPrefix?: string;
  /** Retention beyond the longest window and since_previous cap, in ms. @default 1 hour */
  readonly retentionSlackMs?: number;
}

export interface RedisConnectOptions extends RedisFeatureStoreOptions {
  /** @default 2000 */
  readonly commandTimeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
}

interface ResolvedOptions {
  readonly keyPrefix: string;
  readonly retentionSlackMs: number;
}

function resolveOptions(options: RedisFeatureStoreOptions): ResolvedOptions {
  const retentionSlackMs = options.retentionSlackMs ?? DEFAULT_RETENTION_SLACK_MS;
  if (!Number.isInteger(retentionSlackMs) || retentionSlackMs < 0) {
    throw new ConsumerError(
      "config_invalid",
      `retentionSlackMs: expected an integer ≥ 0, got ${retentionSlackMs}`,
    );
  }
  return { keyPrefix: options.keyPrefix ?? DEFAULT_KEY_PREFIX, retentionSlackMs };
}

/** Backslash-escapes the separator so a tracked string can never split into two values. */
function encodeValue(value: number | string): string {
  if (typeof value === "number") return String(value);
  return value.includes(VALUE_SEPARATOR) || value.includes("\\")
    ? value.replaceAll("\\", "\\\\").replaceAll(VALUE_SEPARATOR, "\\u")
    : value;
}

/**
 * A short hash of what a member holds: a plan that records other values gets other keys, so it
 * never misreads members written by an older spec (its windows start empty instead).
 */
function layoutOf(plan: StatePlan): string {
  return createHash("sha1")
    .update(`v1\n${plan.trackedFields.join("\n")}`)
    .digest("hex")
    .slice(0, 8);
}

function isNoScript(error: unknown): boolean {
  return errorMessage(error).startsWith("NOSCRIPT");
}

export class RedisFeatureStore implements FeatureStore {
  readonly #client: Redis;
  readonly #owned: boolean;
  readonly #options: ResolvedOptions;
  readonly #layouts = new WeakMap<StatePlan, string>();
  #closed = false;

  /**
   * Wraps a client the caller owns (and closes). Give it `maxRetriesPerRequest` and
   * `commandTimeout` so a lost Redis fails batches instead of queueing them forever.
   */
  constructor(client: Redis, options: RedisFeatureStoreOptions = {}, owned = false) {
    this.#client = client;
    this.#owned = owned;
    this.#options = resolveOptions(options);
  }

  /**
   * Connects to `url` (`redis://host:port/db`) and fails fast: no offline queue (a command while
   * disconnected fails at once), one retry per command, bounded command time.
   */
  static async connect(url: string, options: RedisConnectOptions = {}): Promise<RedisFeatureStore> {
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    const client = new Redis(url, redisOptions);
    // ioredis reconnects in the background and reports each failure here; the batches that
    // fail meanwhile carry the error, so the event itself needs no other handling.
    client.on("error", () => {});
    const store = new RedisFeatureStore(client, options, true);
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new ConsumerError(
        "store_unavailable",
        `feature store: cannot connect to ${redactUrl(url)}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    return store;
  }

  async apply(request: StoreRequest): Promise<StoreResponse> {
    const { plan, events, lookups } = request;
    if (this.#closed) throw new ConsumerError("closed", "feature store is closed");
    if (events.length === 0 && lookups.length === 0) {
      return { windowValues: new Float64Array(0), previousEventTimes: [], lookups: [] };
    }
    const { keys, args } = this.#encode(plan, events, lookups);
    const reply = await this.#traced(events.length, lookups.length, () => this.#eval(keys, args));
    return decodeReply(plan, events.length, lookups.length, reply);
  }

  /** The round trip as a CLIENT span, with the database conventions' attributes. */
  #traced(events: number, lookups: number, call: () => Promise<unknown>): Promise<unknown> {
    const { host, port, db } = this.#client.options;
    return tracer.startActiveSpan(
      "EVALSHA",
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "redis",
          "db.operation.name": "EVALSHA",
          "db.namespace": String(db ?? 0),
          "server.address": host ?? "localhost",
          "server.port": port ?? 6379,
          "sluice.store.events": events,
          "sluice.store.lookups": lookups,
        },
      },
      async (span) => {
        try {
          return await call();
        } catch (error) {
          const failure = ConsumerError.from(error);
          span.setAttribute("error.type", failure.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #encode(
    plan: StatePlan,
    events: readonly StoreEvent[],
    lookups: StoreRequest["lookups"],
  ): { keys: string[]; args: (string | number)[] } {
    let layout = this.#layouts.get(plan);
    if (layout === undefined) {
      layout = layoutOf(plan);
      this.#layouts.set(plan, layout);
    }
    const prefix = `${this.#options.keyPrefix}${layout}:`;
    const windowKeys = new Map<string, number>();
    const previousKeys = new Map<string, number>();
    const wantWindows = plan.windows.length > 0;
    const eventKeys: [string | undefined, string | undefined][] = events.map((event) => {
      const tag = `{${event.entity}}`;
      const w = wantWindows ? `${prefix}w:${tag}` : undefined;
      const p = plan.sincePrevious ? `${prefix}p:${tag}:${event.partition}` : undefined;
      if (w !== undefined && !windowKeys.has(w)) windowKeys.set(w, windowKeys.size);
      if (p !== undefined && !previousKeys.has(p)) previousKeys.set(p, previousKeys.size);
      return [w, p];
    });
    const nWin = windowKeys.size;
    const nPrev = previousKeys.size;
    const keys = [...windowKeys.keys(), ...previousKeys.keys()];
    const lookupKeys = new Map<string, number>();
    for (const lookup of lookups) {
      if (!lookupKeys.has(lookup.key)) lookupKeys.set(lookup.key, keys.push(lookup.key));
    }
    const slack = this.#options.retentionSlackMs;
    const args: (string | number)[] = [plan.windows.length];
    for (const window of plan.windows) {
      args.push(window.aggregation, (window.field ?? -1) + 1, window.overMs);
    }
    args.push(plan.windowHorizonMs + slack, plan.previousHorizonMs + slack, nWin, nPrev);
    args.push(events.length);
    events.forEach((event, i) => {
      const [w, p] = eventKeys[i] ?? [];
      args.push(
        w === undefined ? 0 : windowKeys.get(w)! + 1,
        p === undefined ? 0 : previousKeys.get(p)! + nWin + 1,
        event.eventTime,
        event.partition,
        event.offset,
        event.values.map(encodeValue).join(VALUE_SEPARATOR),
      );
    });
    args.push(lookups.length);
    for (const lookup of lookups) args.push(lookupKeys.get(lookup.key)!, lookup.field);
    return { keys, args };
  }

  /** EVALSHA; after a Redis restart or SCRIPT FLUSH the script is loaded once more and retried. */
  async #eval(keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      try {
        return await this.#client.evalsha(WINDOW_SCRIPT_SHA, keys.length, ...keys, ...args);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        await this.#client.script("LOAD", WINDOW_SCRIPT);
        return await this.#client.evalsha(WINDOW_SCRIPT_SHA, keys.length, ...keys, ...args);
      }
    } catch (error) {
      throw new ConsumerError(
        "store_unavailable",
        `feature store (redis ${this.#client.options.host ?? "?"}:${this.#client.options.port ?? "?"}) failed a batch: ${errorMessage(error)}`,
        { cause: error, retryable: true },
      );
    }
  }
}

function decodeReply(
  plan: StatePlan,
  nEvents: number,
  nLookups: number,
  reply: unknown,
): StoreResponse {
  const nWin = plan.windows.length;
  const perEvent = nWin + (plan.sincePrevious ? 1 : 0);
  const expected = nEvents * perEvent + nLookups;
  if (!Array.isArray(reply) || reply.length !== expected) {
    throw new ConsumerError(
      "store_unavailable",
      `feature store: expected a reply of ${expected} values, got ${Array.isArray(reply) ? reply.length : typeof reply}`,
      { retryable: true },
    );
  }
  const values = reply as (string | null)[];
  const windowValues = new Float64Array(nEvents * nWin);
  const previousEventTimes: (number | undefined)[] = [];
  let r = 0;
  for (let i = 0; i < nEvents; i++) {
    for (let w = 0; w < nWin; w++) windowValues[i * nWin + w] = Number(values[r++]);
    if (plan.sincePrevious) {
      const previous = values[r++];
      previousEventTimes.push(
        previous === null || previous === undefined ? undefined : Number(previous),
      );
    }
  }
  return { windowValues, previousEventTimes, lookups: values.slice(r) };
}

/** Keeps passwords out of error messages and logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable redis url)";
  }
}
