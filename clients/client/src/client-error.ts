import { Metadata, status } from "@grpc/grpc-js";

/**
 * Codes worth another attempt: the server never started the work (UNAVAILABLE: not reachable or
 * restarting; RESOURCE_EXHAUSTED: its queue is full). Anything else would fail the same way again,
 * and DEADLINE_EXCEEDED means the caller's time is already spent.
 */
const RETRYABLE_CODES: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
]);

/** True when a call that failed with `code` may succeed if sent again. */
export function isRetryableCode(code: status): boolean {
  return RETRYABLE_CODES.has(code);
}

/**
 * The one error type of the client boundary. Every failure a caller sees, whether the server
 * answered with a status or the client refused the call before sending it, is one of these.
 *
 * The message starts with the code name (`[NOT_FOUND] model "x" is not in the repository`), so a log
 * line alone says which kind of failure it was; `details` holds the text without the prefix.
 */
export class InferenceClientError extends Error {
  override readonly name = "InferenceClientError";
  /** The gRPC status code. */
  readonly code: status;
  /** What went wrong, as the server (or the client's own validation) described it. */
  readonly details: string;
  /** Trailing metadata the server sent with the status, when there was a server. */
  readonly metadata: Metadata;

  constructor(
    code: status,
    details: string,
    options: { cause?: unknown; metadata?: Metadata } = {},
  ) {
    super(`[${status[code] ?? code}] ${details}`, { cause: options.cause });
    this.code = code;
    this.details = details;
    this.metadata = options.metadata ?? new Metadata();
  }

  /** Whether sending the same call again may succeed (UNAVAILABLE or RESOURCE_EXHAUSTED). */
  get retryable(): boolean {
    return isRetryableCode(this.code);
  }

  /**
   * Converts anything thrown into an InferenceClientError. A grpc-js status error keeps its code,
   * details and metadata; an abort becomes CANCELLED; anything else becomes `fallback` with the
   * original kept as `cause`.
   */
  static from(error: unknown, fallback: status = status.UNKNOWN): InferenceClientError {
    if (error instanceof InferenceClientError) return error;
    if (isStatusError(error)) {
      return new InferenceClientError(error.code, error.details || error.message, {
        cause: error,
        metadata: error.metadata instanceof Metadata ? error.metadata : undefined,
      });
    }
    if (error instanceof Error && error.name === "AbortError") {
      return new InferenceClientError(status.CANCELLED, `call aborted: ${error.message}`, {
        cause: error,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new InferenceClientError(fallback, message, { cause: error });
  }

  static invalidArgument(details: string, cause?: unknown): InferenceClientError {
    return new InferenceClientError(status.INVALID_ARGUMENT, details, { cause });
  }
}

interface StatusError extends Error {
  code: status;
  details: string;
  metadata?: unknown;
}

// grpc-js rejects calls with a plain Error carrying `code`, `details` and `metadata` (its
// ServiceError is a type, not a class), so the shape is the only thing to test.
function isStatusError(error: unknown): error is StatusError {
  if (!(error instanceof Error)) return false;
  const { code, details } = error as Partial<StatusError>;
  return typeof code === "number" && status[code] !== undefined && typeof details === "string";
}
