/** The one error type of the local stack: a code from a fixed list, a message a user can act on. */

/** Every way the stack can fail, so callers (the CLI, test helpers) can branch without parsing text. */
export const STACK_ERROR_CODES = [
  /** An option or env variable is malformed (a port out of range, a bad REDIS_URL). */
  "INVALID_OPTION",
  /** java, mvn or redis-server is missing and could not be installed. */
  "MISSING_TOOL",
  /** Maven could not fetch the Kafka jars. */
  "FETCH_FAILED",
  /** A port the stack needs is taken by a process the stack did not start. */
  "PORT_IN_USE",
  /** The stack already runs with different settings (another port). */
  "CONFLICT",
  /** A process exited while starting, or a setup step (formatting Kafka's storage) failed. */
  "START_FAILED",
  /** A service runs (or KAFKA_BROKERS / REDIS_URL points somewhere) but does not answer as expected. */
  "UNHEALTHY",
  /** A bounded wait ran out. */
  "TIMEOUT",
  /** A process survived SIGKILL. */
  "STOP_FAILED",
] as const;

export type StackErrorCode = (typeof STACK_ERROR_CODES)[number];

export class StackError extends Error {
  override readonly name = "StackError";

  constructor(
    readonly code: StackErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth trying again unchanged: the machine was slow or busy, nothing is misconfigured. */
  get retryable(): boolean {
    return this.code === "TIMEOUT" || this.code === "FETCH_FAILED";
  }

  /** `error` itself when it is a StackError, else one with `code` wrapping it (kept as `cause`). */
  static from(error: unknown, code: StackErrorCode = "START_FAILED"): StackError {
    if (error instanceof StackError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new StackError(code, message, { cause: error });
  }
}
