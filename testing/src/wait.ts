/**
 * Bounded waiting and loopback ports, for tests and the local stack alike. Every wait has a
 * deadline, and its timeout message says what was expected and what the last attempt got, so a
 * stuck start or a broken test explains itself. On a noisy 2-core machine a fixed sleep is either
 * too short (flaky) or too long (slow); polling with a bound is neither.
 */
import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "@sluice/kit";

/** Every server a test or the stack starts binds here only: nothing of it is reachable from the network. */
export const LOOPBACK = "127.0.0.1";
/** Most a condition in a test may take: a load plus warm-up plus a poll on a busy machine. */
export const DEFAULT_WAIT_MS = 30_000;
/** Often enough to catch short states (a version LOADING), rare enough not to load the server. */
export const DEFAULT_POLL_MS = 20;
/** A connect to loopback answers at once; this only bounds a wedged listener. */
const CONNECT_TIMEOUT_MS = 1_000;

export interface WaitOptions {
  /** @default 30 s */
  readonly timeoutMs?: number;
  /** @default 20 ms */
  readonly intervalMs?: number;
  /** Added to the timeout message: where to look next (a log file and its last lines). */
  readonly hint?: () => string | Promise<string>;
  /** Builds the error a timeout throws (the stack throws its own). @default an Error */
  readonly timeoutError?: (message: string) => Error;
}

/** Thrown by a probe to stop waiting at once: the thing waited for can no longer happen. */
export class StopWaiting extends Error {
  override readonly name = "StopWaiting";

  constructor(readonly error: Error) {
    super(error.message, { cause: error });
  }
}

/**
 * Calls `probe` until it returns something other than undefined or false, and resolves with that.
 * A probe that throws counts as "not yet" (its error is the "last attempt" of the timeout message)
 * unless it throws `StopWaiting`, whose error is rethrown at once.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  {
    timeoutMs = DEFAULT_WAIT_MS,
    intervalMs = DEFAULT_POLL_MS,
    hint,
    timeoutError = (message) => new Error(message),
  }: WaitOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = "no attempt finished";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = `not yet (${String(value)})`;
    } catch (error) {
      if (error instanceof StopWaiting) throw error.error;
      last = errorMessage(error);
    }
    if (performance.now() >= deadline) {
      const more = hint === undefined ? "" : `; ${await hint()}`;
      throw timeoutError(
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
  { host = LOOPBACK, ...options }: WaitOptions & { host?: string } = {},
): Promise<void> {
  await waitFor(
    `a listener on ${host}:${port}`,
    async () => {
      if (await canConnect(port, host)) return true;
      throw new Error("connection refused");
    },
    { intervalMs: 100, ...options },
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
