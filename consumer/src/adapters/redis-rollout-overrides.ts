/**
 * The `RolloutOverrides` port on Redis: the pipeline's value in one hash,
 * `<key_prefix>rollout:<pipeline>` with fields `generation` and `value`, replaced by a Lua script
 * that compares the generation first (a compare-and-set in one round trip). Every consumer already
 * talks to this Redis, and the value outlives every consumer, so one that restarts in the middle of
 * a ramp starts with the weights of the moment, not the file's.
 */
import type { Redis } from "ioredis";
import { errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import type { RolloutOverrides } from "../ports/rollout-overrides.js";
import { connectFailFast } from "./redis-connection.js";

/** A poll or a command waits this long for Redis, then says so (and the consumer tries again). */
const COMMAND_TIMEOUT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 5_000;

// KEYS[1] the hash; ARGV: expected generation ("" for none), new generation, value.
const REPLACE_SCRIPT = `
local current = redis.call("HGET", KEYS[1], "generation")
if (current or "") ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "generation", ARGV[2], "value", ARGV[3])
return 1
`;

/** The key of a pipeline's override under the pipeline's Redis key prefix. */
export function rolloutOverrideKey(keyPrefix: string, pipeline: string): string {
  return `${keyPrefix}rollout:${pipeline}`;
}

export class RedisRolloutOverrides implements RolloutOverrides {
  readonly key: string;
  readonly #client: Redis;

  private constructor(client: Redis, key: string) {
    this.#client = client;
    this.key = key;
  }

  /** Connects to `url` for the override of `pipeline`; a `store_unavailable` names the server. */
  static async connect(
    url: string,
    keyPrefix: string,
    pipeline: string,
  ): Promise<RedisRolloutOverrides> {
    const client = await connectFailFast(
      url,
      { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS },
      "rollout overrides",
    );
    return new RedisRolloutOverrides(client, rolloutOverrideKey(keyPrefix, pipeline));
  }

  async read(): Promise<string | null> {
    return this.#call(() => this.#client.hget(this.key, "value"));
  }

  async replace(expected: number | null, value: string, generation: number): Promise<boolean> {
    const done = await this.#call(() =>
      this.#client.eval(
        REPLACE_SCRIPT,
        1,
        this.key,
        expected === null ? "" : String(expected),
        String(generation),
        value,
      ),
    );
    return done === 1;
  }

  async clear(): Promise<void> {
    await this.#call(() => this.#client.del(this.key));
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new ConsumerError(
        "store_unavailable",
        `rollout overrides (${this.key}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }
}
