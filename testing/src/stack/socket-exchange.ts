/** One request and its answer on a fresh TCP connection: how the stack's health probes talk. */
import { connect } from "node:net";
import { StackError } from "./stack-error.js";
import { formatHostPort, type HostPort } from "./stack-options.js";

export interface Exchange<T> {
  readonly request: Buffer;
  readonly timeoutMs: number;
  /**
   * Reads what came so far: the answer once it is complete, undefined while more is needed; throws
   * (a StackError saying what was expected) when what came is wrong.
   */
  readonly read: (received: Buffer) => T | undefined;
  /** What was expected within `timeoutMs`, given what came, for the timeout's message. */
  readonly timedOut: (received: Buffer) => string;
  /** What was expected, given what came before the connection closed. */
  readonly closed: (received: Buffer) => string;
}

/**
 * Connects to `address`, writes the request and resolves with the answer `read` finds. Fails with
 * a StackError naming the address: `unhealthy` when the connection fails or closes first or the
 * answer is wrong, `timeout` after `timeoutMs`. The connection is closed in every case.
 */
export function exchange<T>(address: HostPort, options: Exchange<T>): Promise<T> {
  const where = formatHostPort(address);
  return new Promise<T>((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port });
    let received = Buffer.alloc(0);
    const finish = (error: Error | undefined, answer?: T): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(answer as T);
    };
    const timer = setTimeout(
      () => finish(new StackError("timeout", `${where}: ${options.timedOut(received)}`)),
      options.timeoutMs,
    );
    socket.on("connect", () => socket.write(options.request));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let answer: T | undefined;
      try {
        answer = options.read(received);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (answer !== undefined) finish(undefined, answer);
    });
    socket.on("error", (error) =>
      finish(new StackError("unhealthy", `${where}: ${error.message}`, { cause: error })),
    );
    socket.on("close", () =>
      finish(new StackError("unhealthy", `${where}: ${options.closed(received)}`)),
    );
  });
}
