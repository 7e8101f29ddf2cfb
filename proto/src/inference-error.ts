/**
 * The one error of the inference boundary, on both sides of the wire: the server answers with it,
 * the client fails with it. It carries the gRPC status (`status`, numeric, and `code`, its
 * lowercase name as every Sluice error code is spelled), the text the status came with
 * (`details`), and the trailing metadata when there was a server to send some.
 *
 * The message starts with the status name (`[NOT_FOUND] model "x" is not in the repository`), so a
 * log line alone says which kind of failure it was; the server sends `details` alone on the wire.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { SluiceError, errorMessage } from "@sluice/kit";

/** The gRPC status names, lowercase: `status.NOT_FOUND` is "not_found". */
export const INFERENCE_ERROR_CODES = [
  "ok",
  "cancelled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number];

/**
 * Statuses worth another attempt: the server never started the work (UNAVAILABLE: not reachable
 * or restarting; RESOURCE_EXHAUSTED: its queue is full). Anything else would fail the same way
 * again, and DEADLINE_EXCEEDED means the caller's time is already spent.
 */
const RETRYABLE_CODES: ReadonlySet<InferenceErrorCode> = new Set([
  "unavailable",
  "resource_exhausted",
]);

/** True when a call that failed with gRPC status `code` may succeed if sent again. */
export function isRetryableStatus(code: status): boolean {
  return RETRYABLE_CODES.has(statusCode(code));
}

/** The lowercase code of a gRPC status; "unknown" for a number gRPC does not define. */
export function statusCode(code: status): InferenceErrorCode {
  const name = (status[code] as string | undefined)?.toLowerCase();
  return INFERENCE_ERROR_CODES.includes(name as InferenceErrorCode)
    ? (name as InferenceErrorCode)
    : "unknown";
}

export interface InferenceErrorOptions {
  readonly cause?: unknown;
  /** Trailing metadata the server sent with the status. */
  readonly metadata?: Metadata | undefined;
}

export class InferenceError extends SluiceError<InferenceErrorCode> {
  override readonly name = "InferenceError";
  /** The numeric gRPC status. */
  readonly status: status;
  /** What went wrong, as the server (or the client's own validation) described it. */
  readonly details: string;
  #metadata: Metadata | undefined;

  constructor(code: status, details: string, options: InferenceErrorOptions = {}) {
    super(statusCode(code), `[${status[code] ?? code}] ${details}`, { cause: options.cause });
    this.status = code;
    this.details = details;
    this.#metadata = options.metadata;
  }

  /** Trailing metadata the server sent with the status; empty when there was none. */
  get metadata(): Metadata {
    return (this.#metadata ??= new Metadata());
  }

  protected override retryableByDefault(code: InferenceErrorCode): boolean {
    return RETRYABLE_CODES.has(code);
  }

  /**
   * Converts anything thrown into an InferenceError. A grpc-js status error keeps its status,
   * details and metadata; an abort becomes CANCELLED; anything else becomes `fallback` with the
   * original kept as `cause`.
   */
  static from(error: unknown, fallback: status = status.UNKNOWN): InferenceError {
    if (error instanceof InferenceError) return error;
    if (isStatusError(error)) {
      return new InferenceError(error.code, error.details || error.message, {
        cause: error,
        metadata: error.metadata instanceof Metadata ? error.metadata : undefined,
      });
    }
    if (error instanceof Error && error.name === "AbortError") {
      return new InferenceError(status.CANCELLED, `call aborted: ${error.message}`, {
        cause: error,
      });
    }
    return new InferenceError(fallback, errorMessage(error), { cause: error });
  }

  static invalidArgument(details: string, cause?: unknown): InferenceError {
    return new InferenceError(status.INVALID_ARGUMENT, details, { cause });
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
