/**
 * Writes lookup records (a profile table's rows) into the Redis hashes a pipeline's lookups read:
 * one HSET per record, a batch of them in one pipelined round trip. Fields not in a record are
 * left as they are, so loading a table twice, or a second table with other columns, only adds.
 */
import type { Redis } from "ioredis";
import { errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { connectFailFast } from "./redis-connection.js";
import type { LookupRecord } from "../features/lookup-table.js";

/** A bulk load waits longer than a micro-batch: a big pipeline on a busy server takes a while. */
const COMMAND_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export class RedisLookupWriter {
  readonly #client: Redis;

  private constructor(client: Redis) {
    this.#client = client;
  }

  /** Connects to `url`, failing fast with a `store_unavailable` that names the server. */
  static async connect(url: string): Promise<RedisLookupWriter> {
    const client = await connectFailFast(
      url,
      { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS },
      "lookups",
    );
    return new RedisLookupWriter(client);
  }

  /** Sets every record's fields, in one round trip; rejects if any HSET failed. */
  async write(records: readonly LookupRecord[]): Promise<void> {
    if (records.length === 0) return;
    const pipeline = this.#client.pipeline();
    for (const { key, fields } of records) pipeline.hset(key, fields);
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw this.#failure(error);
    }
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (results === null || failed) throw this.#failure(failed ?? "the pipeline was discarded");
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #failure(error: unknown): ConsumerError {
    const { host, port } = this.#client.options;
    return new ConsumerError(
      "store_unavailable",
      `writing lookup records to Redis at ${host ?? "?"}:${port ?? "?"} failed: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}
