/** Redis health without a Redis client: a raw RESP `PING` (after `AUTH` when a password is set). */
import { StackError } from "./stack-error.js";
import { exchange } from "./socket-exchange.js";
import { formatHostPort, type RedisAddress } from "./stack-options.js";

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(...args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(""), "utf8");
}

/**
 * Resolves when Redis answers `+PONG`; rejects with what came instead (`-LOADING ...` while a
 * server loads its dataset, `-NOAUTH ...` without the password, or nothing).
 */
export async function redisPing(address: RedisAddress, timeoutMs = 5_000): Promise<void> {
  const where = formatHostPort(address);
  const commands: Buffer[] = [];
  if (address.password !== undefined) {
    commands.push(
      address.username === undefined
        ? encodeCommand("AUTH", address.password)
        : encodeCommand("AUTH", address.username, address.password),
    );
  }
  commands.push(encodeCommand("PING"));
  const expected = commands.length;

  await exchange(address, {
    request: Buffer.concat(commands),
    timeoutMs,
    read: (received) => {
      const lines = received.toString("utf8").split("\r\n");
      if (lines.length <= expected) return undefined; // not every reply line is complete yet
      const replies = lines.slice(0, expected);
      const failed = replies.find((line) => line.startsWith("-"));
      const last = replies[expected - 1];
      if (failed !== undefined)
        throw new StackError("unhealthy", `${where}: expected +PONG, got ${failed}`);
      if (last !== "+PONG") {
        throw new StackError(
          "unhealthy",
          `${where}: expected +PONG, got ${JSON.stringify(last)}: is this port Redis?`,
        );
      }
      return true;
    },
    timedOut: (received) =>
      `expected +PONG within ${timeoutMs} ms, got ${JSON.stringify(received.toString("utf8"))}`,
    closed: (received) =>
      `expected +PONG, got the connection closed after ${JSON.stringify(received.toString("utf8"))}`,
  });
}
