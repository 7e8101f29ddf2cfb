/**
 * How every Redis client of the consumer connects: fail fast, so a batch that cannot reach Redis
 * fails (and is retried by the pipeline) instead of queueing behind a reconnect.
 */
import { Redis } from "ioredis";
import { errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";

/** A Redis URL as messages and logs may show it: the password masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable redis url)";
  }
}

export interface FailFastOptions {
  /** Bound on one command's round trip. */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/**
 * Connects to `url` (`redis://host:port/db`) and fails fast: no offline queue (a command while
 * disconnected fails at once), one retry per command, bounded command time. A failed connect is
 * a `store_unavailable` error naming `what` and the URL with its password masked.
 */
export async function connectFailFast(
  url: string,
  { commandTimeoutMs, connectTimeoutMs }: FailFastOptions,
  what: string,
): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
  });
  // ioredis reconnects in the background and reports each failure here; the calls that fail
  // meanwhile carry the error, so the event itself needs no other handling.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new ConsumerError(
      "store_unavailable",
      `${what}: cannot connect to ${redactUrl(url)}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return client;
}
