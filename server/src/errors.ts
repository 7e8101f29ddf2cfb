import { status } from "@grpc/grpc-js";

/**
 * The one error type of the server boundary: every failure a caller can see carries the gRPC status
 * it maps to and a message that says what was expected and what came.
 */
export class InferenceError extends Error {
  override readonly name = "InferenceError";

  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into an InferenceError; unknown failures become INTERNAL with the cause kept. */
  static from(error: unknown, fallback: status = status.INTERNAL): InferenceError {
    if (error instanceof InferenceError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new InferenceError(fallback, message, { cause: error });
  }

  static invalidArgument(message: string, cause?: unknown): InferenceError {
    return new InferenceError(status.INVALID_ARGUMENT, message, { cause });
  }

  static notFound(message: string): InferenceError {
    return new InferenceError(status.NOT_FOUND, message);
  }

  static unavailable(message: string, cause?: unknown): InferenceError {
    return new InferenceError(status.UNAVAILABLE, message, { cause });
  }
}
