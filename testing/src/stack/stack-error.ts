/** The one error type of the local stack: a code from a fixed list, a message a user can act on. */
import { SluiceError, errorMessage } from "@sluice/kit";

/** Every way the stack can fail, so callers (the CLI, test helpers) can branch without parsing text. */
export const STACK_ERROR_CODES = [
  /** An option or env variable is malformed (a port out of range, a bad REDIS_URL). */
  "invalid_option",
  /** java, mvn or redis-server is missing and could not be installed. */
  "missing_tool",
  /** Maven could not fetch the Kafka jars. */
  "fetch_failed",
  /** A port the stack needs is taken by a process the stack did not start. */
  "port_in_use",
  /** The stack already runs with different settings (another port). */
  "conflict",
  /** A process exited while starting, or a setup step (formatting Kafka's storage) failed. */
  "start_failed",
  /** A service runs (or KAFKA_BROKERS / REDIS_URL points somewhere) but does not answer as expected. */
  "unhealthy",
  /** A bounded wait ran out. */
  "timeout",
  /** A process survived SIGKILL. */
  "stop_failed",
] as const;

export type StackErrorCode = (typeof STACK_ERROR_CODES)[number];

/** Worth trying again unchanged: the machine was slow or busy, nothing is misconfigured. */
const RETRYABLE_CODES: ReadonlySet<StackErrorCode> = new Set(["timeout", "fetch_failed"]);

export class StackError extends SluiceError<StackErrorCode> {
  override readonly name = "StackError";

  protected override retryableByDefault(code: StackErrorCode): boolean {
    return RETRYABLE_CODES.has(code);
  }

  /** `error` itself when it is a StackError, else one with `code` wrapping it (kept as `cause`). */
  static from(error: unknown, code: StackErrorCode = "start_failed"): StackError {
    if (error instanceof StackError) return error;
    return new StackError(code, errorMessage(error), { cause: error });
  }
}

/** The stack's waits poll less often than a test's: a starting JVM is not watched by the millisecond. */
export const STACK_POLL_MS = 100;

/** What a stack wait throws when it runs out of time. */
export function stackTimeout(message: string): StackError {
  return new StackError("timeout", message);
}
