/**
 * The label join on Redis (`LabelJoinStore`). Per prediction id, three keys under one hash tag:
 *
 *   <prefix>{<id>}:p   the prediction, JSON {m, v, a, s, t, src}: first write wins (SET NX PX)
 *   <prefix>{<id>}:l   the label, JSON {y, t, src}: first write wins (SET NX PX)
 *   <prefix>{<id>}:j   the join: "p:<source>" or "l:<source>", the message that completed it
 *
 * Each key lives `ttlMs` from its own write (30 days by default): a label may come up to that
 * long after its prediction, and a label that comes first waits as long for its prediction. The
 * join marker makes it replay-idempotent (see label-join.ts): SET NX on `:j` lets one message
 * complete a join, and only the same message sees it again.
 *
 * One EVALSHA per call, whatever the batch size; the script is atomic, so a prediction and its
 * label recorded at the same moment by two consumers join exactly once. Standalone Redis (or a
 * primary behind Sentinel): the batch spans many ids' slots and the script builds the keys from
 * the ids, both of which Redis Cluster refuses; the hash tag keeps one id's keys in one slot for a
 * cluster version that groups a batch by slot and declares its keys.
 *
 * Memory: about 200 bytes per waiting prediction (key, JSON value, TTL), so rate × TTL × 200 B:
 * 100 predictions/s kept 30 days is 259 million keys, about 52 GB. Size the TTL to the real label
 * delay, and at high volume record only the predictions that will be evaluated (a sticky share of
 * ids, decided the same way on both sides).
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { errorMessage } from "@sluice/kit";
import { connectFailFast } from "./redis-connection.js";
import { ConsumerError } from "../errors.js";
import { DEFAULT_LABEL_TTL_MS } from "../ports/label-join.js";
import type {
  JoinedLabel,
  LabelEntry,
  LabelJoinOutcome,
  LabelJoinStore,
  PredictionEntry,
} from "../ports/label-join.js";

export const DEFAULT_LABEL_KEY_PREFIX = "sluice:labels:";
/** As the feature store: a stuck Redis fails the batch instead of stalling the partition. */
export const DEFAULT_LABEL_COMMAND_TIMEOUT_MS = 2_000;
export const DEFAULT_LABEL_CONNECT_TIMEOUT_MS = 2_000;

/**
 * ARGV: side ("p" or "l"), TTL ms, the key prefix, then per entry the id, the value and the
 * source; the script builds each id's three keys (mine, other, join) itself, so a batch sends each
 * id once instead of three keys of ~60 bytes (standalone Redis only, as said above). Returns per
 * entry {status, prediction, label}: status 1 joined, 2 replay, 3 waiting, 4 duplicate,
 * 5 conflict.
 */
const JOIN_SCRIPT = `
local side = ARGV[1]
local ttl = ARGV[2]
local prefix = ARGV[3]
local mineSuffix = ':' .. side
local otherSuffix = side == 'p' and ':l' or ':p'
local out = {}
for i = 1, (#ARGV - 3) / 3 do
  local id, value, source = ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3]
  local base = prefix .. '{' .. id .. '}'
  local mine, other, join = base .. mineSuffix, base .. otherSuffix, base .. ':j'
  local stored = value
  local fresh = redis.call('SET', mine, value, 'NX', 'PX', ttl)
  if not fresh then stored = redis.call('GET', mine) end
  local theirs = redis.call('GET', other)
  local status
  if side == 'l' and not fresh and stored ~= value and cjson.decode(stored).y ~= cjson.decode(value).y then
    status = 5
  elseif not theirs then
    status = fresh and 3 or 4
    if not fresh then
      -- a second message for a side already stored and still waiting: a replay of the same message
      -- is still "waiting"; another message is a duplicate
      if cjson.decode(stored).src == source then status = 3 end
    end
  else
    local marker = side .. ':' .. source
    if redis.call('SET', join, marker, 'NX', 'PX', ttl) then
      status = 1
    elseif redis.call('GET', join) == marker then
      status = 2
    else
      status = 4
    end
  end
  if status == 1 or status == 2 then
    if side == 'p' then
      out[i] = {status, stored, theirs}
    else
      out[i] = {status, theirs, stored}
    end
  else
    out[i] = {status}
  end
end
return out
`;
const JOIN_SCRIPT_SHA = createHash("sha1").update(JOIN_SCRIPT).digest("hex");

export interface RedisLabelJoinOptions {
  /** @default "sluice:labels:" (give each pipeline its own, e.g. "sluice:labels:fraud:") */
  readonly keyPrefix?: string;
  /** How long each side waits for the other, from its own write. @default 30 days */
  readonly ttlMs?: number;
}

export interface RedisLabelJoinConnectOptions extends RedisLabelJoinOptions {
  /** @default 2000 */
  readonly commandTimeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
}

interface StoredPrediction {
  readonly m: string;
  readonly v: string;
  readonly a: string;
  readonly s: number;
  readonly t: number;
  readonly src: string;
}

interface StoredLabel {
  readonly y: number;
  readonly t: number;
  readonly src: string;
}

function isNoScript(error: unknown): boolean {
  return errorMessage(error).startsWith("NOSCRIPT");
}

export class RedisLabelJoin implements LabelJoinStore {
  readonly keyPrefix: string;
  readonly ttlMs: number;
  readonly #client: Redis;
  readonly #owned: boolean;
  #closed = false;

  /** Wraps a client the caller owns (and closes), unless `owned`. */
  constructor(client: Redis, options: RedisLabelJoinOptions = {}, owned = false) {
    const ttlMs = options.ttlMs ?? DEFAULT_LABEL_TTL_MS;
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new ConsumerError(
        "config_invalid",
        `label join ttlMs: expected a positive integer, got ${ttlMs}`,
      );
    }
    this.#client = client;
    this.#owned = owned;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_LABEL_KEY_PREFIX;
    this.ttlMs = ttlMs;
  }

  /** Connects to `url` and fails fast, as the feature store does (no offline queue, bounded command time). */
  static async connect(
    url: string,
    options: RedisLabelJoinConnectOptions = {},
  ): Promise<RedisLabelJoin> {
    const client = await connectFailFast(
      url,
      {
        commandTimeoutMs: options.commandTimeoutMs ?? DEFAULT_LABEL_COMMAND_TIMEOUT_MS,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_LABEL_CONNECT_TIMEOUT_MS,
      },
      "label join",
    );
    const store = new RedisLabelJoin(client, options, true);
    return store;
  }

  /** The three keys of an id: prediction, label, join. */
  keysOf(id: string): [string, string, string] {
    const base = `${this.keyPrefix}{${id}}`;
    return [`${base}:p`, `${base}:l`, `${base}:j`];
  }

  recordPredictions(entries: readonly PredictionEntry[]): Promise<LabelJoinOutcome> {
    // The JSON of a StoredPrediction, written in its field order without an object per entry: the
    // model, version and arm repeat over a batch, so their part is encoded once per combination,
    // found by arm (an arm answers with one version, unless a swap lands mid-batch) without
    // building a key per entry.
    const heads = new Map<string, { model: string; version: string; head: string }>();
    return this.#record(
      "p",
      entries.map((e) => {
        let cached = heads.get(e.arm);
        if (cached === undefined || cached.model !== e.model || cached.version !== e.version) {
          const head = `{"m":${JSON.stringify(e.model)},"v":${JSON.stringify(e.version)},"a":${JSON.stringify(e.arm)},"s":`;
          cached = { model: e.model, version: e.version, head };
          heads.set(e.arm, cached);
        }
        const { head } = cached;
        const value = `${head}${JSON.stringify(e.score)},"t":${JSON.stringify(e.predictedAt)},"src":${JSON.stringify(e.source)}}`;
        return { id: e.id, value, source: e.source };
      }),
    );
  }

  recordLabels(entries: readonly LabelEntry[]): Promise<LabelJoinOutcome> {
    return this.#record(
      "l",
      entries.map((e) => {
        const stored: StoredLabel = { y: e.label, t: e.labelledAt, src: e.source };
        return { id: e.id, value: JSON.stringify(stored), source: e.source };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#client.quit().catch(() => this.#client.disconnect());
  }

  async #record(
    side: "p" | "l",
    entries: readonly { id: string; value: string; source: string }[],
  ): Promise<LabelJoinOutcome> {
    if (this.#closed) throw new ConsumerError("closed", "label join store is closed");
    if (entries.length === 0) return { joined: [], waiting: 0, duplicates: 0, conflicts: 0 };
    const args: (string | number)[] = [side, this.ttlMs, this.keyPrefix];
    for (const entry of entries) args.push(entry.id, entry.value, entry.source);
    const reply = (await this.#eval(args)) as (number | string)[][];
    const joined: JoinedLabel[] = [];
    let waiting = 0;
    let duplicates = 0;
    let conflicts = 0;
    reply.forEach((item, i) => {
      const status = item[0];
      if (status === 3) waiting++;
      else if (status === 4) duplicates++;
      else if (status === 5) conflicts++;
      else {
        const prediction = JSON.parse(String(item[1])) as StoredPrediction;
        const label = JSON.parse(String(item[2])) as StoredLabel;
        joined.push({
          id: entries[i]!.id,
          model: prediction.m,
          version: prediction.v,
          arm: prediction.a,
          score: prediction.s,
          predictedAt: prediction.t,
          label: label.y,
          labelledAt: label.t,
          replay: status === 2,
        });
      }
    });
    return { joined, waiting, duplicates, conflicts };
  }

  async #eval(args: readonly (string | number)[]): Promise<unknown> {
    try {
      try {
        return await this.#client.evalsha(JOIN_SCRIPT_SHA, 0, ...args);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        // First call on this server (or after SCRIPT FLUSH): EVAL loads and caches the script.
        return await this.#client.eval(JOIN_SCRIPT, 0, ...args);
      }
    } catch (error) {
      throw new ConsumerError("store_unavailable", `label join: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }
}
