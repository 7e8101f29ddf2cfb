/**
 * Bounded waiting and port helpers. Every wait has a deadline, and its timeout message says what
 * was expected and what the last attempt got, so a stuck start explains itself.
 */
import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { StackError } from "./stack-error.js";
import { LOOPBACK } from "./stack-options.js";

/** Often enough that a ready service is seen within a fraction of a second, rare enough to be idle. */
export const DEFAULT_POLL_MS = 100;
/** A connect to loopback answers at once; this only bounds a wedged listener. */
const CONNECT_TIMEOUT_MS = 1_000;

export interface WaitOptions {
  timeoutMs: number;
  /** @default 100 ms */
  intervalMs?: number;
  /** Added to the timeout message: where to look next (a log file and its last lines). */
  hint?: () => string | Promise<string>;
}

/** Thrown by a probe to stop waiting at once: the thing waited for can no longer happen. */
export class Fatal extends Error {
  override readonly name = "Fatal";

  constructor(readonly error: Error) {
    super(error.message, { cause: error });
  }
}

/**
 * Calls `probe` until it resolves to something other than undefined; a probe that throws counts as
 * "not yet" (its error is the "last attempt" of the timeout message) unless it throws `Fatal`,
 * whose error is rethrown at once.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs, intervalMs = DEFAULT_POLL_MS, hint }: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = "no attempt finished";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = "not yet";
    } catch (error) {
      if (error instanceof Fatal) throw error.error;
      last = error instanceof Error ? error.message : String(error);
    }
    if (performance.now() >= deadline) {
      const more = hint === undefined ? "" : `; ${await hint()}`;
      throw new StackError(
        "TIMEOUT",
        `timed out after ${timeoutMs} ms waiting for ${what} (last attempt: ${last})${more}`,
      );
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
}

/** Resolves true when something accepts a TCP connection at host:port, false when nothing does. */
export async function canConnect(
  port: number,
  host = LOOPBACK,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Waits until something listens on host:port.
 * @default host 127.0.0.1, timeoutMs 30 s
 */
export async function waitForPort(
  port: number,
  { host = LOOPBACK, timeoutMs = 30_000 }: { host?: string; timeoutMs?: number } = {},
): Promise<void> {
  await waitUntil(
    `a listener on ${host}:${port}`,
    async () => {
      if (await canConnect(port, host)) return true;
      throw new Error("connection refused");
    },
    { timeoutMs },
  );
}

/** True when host:port can be bound right now (nothing else listens there). */
export async function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port the OS considers free on host right now. Another process may take it before it is used:
 * callers bind it soon after, and a start that loses the race fails with a clear message.
 */
export async function freePort(host = LOOPBACK): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
