/**
 * The one error type of the consumer boundary, on kit's `SluiceError`: every failure carries a
 * string code from the const list below, whether retrying the same work may succeed, and the
 * original error as `cause`.
 *
 * The consumer loop decides with two questions only: is it retryable (back off and process the
 * batch again, offsets uncommitted) or not (send the message to the dead-letter topic with
 * `code` and `message`, then move on). So messages must let a user fix their input on their own.
 * The codes are in dead-letter headers and metric labels: they never change.
 */
import { SluiceError, errorMessage } from "@sluice/kit";

export const CONSUMER_ERROR_CODES = [
  /** The event decoded but its content does not fit the pipeline (missing field, wrong type). */
  "invalid_event",
  /** The Kafka message could not be decoded at all (not UTF-8, not JSON, wrong schema id). */
  "decode_error",
  /** The event is valid but a feature could not be computed (log of 0, lookup not found, hook failed). */
  "feature_error",
  /** The feature store (Redis) failed or could not be reached: nothing was computed from it. */
  "store_unavailable",
  /** The inference sidecar refused the request (bad shape, unknown model): retrying changes nothing. */
  "inference_rejected",
  /** The inference sidecar could not be reached or was overloaded. */
  "inference_unavailable",
  /** Publishing a prediction or a dead letter failed. */
  "produce_failed",
  /** Committing offsets failed. */
  "commit_failed",
  /** The pipeline configuration is invalid; found at start, never per event. */
  "config_invalid",
  /** The component was closed while work was pending. */
  "closed",
  /** A bug: anything thrown that is not one of the above. */
  "internal",
] as const;

export type ConsumerErrorCode = (typeof CONSUMER_ERROR_CODES)[number];

/**
 * Codes whose failure is about the world, not the message: the same batch may succeed later.
 * `closed` is not here: a closed component will not reopen, the process is shutting down.
 */
const RETRYABLE_CODES: ReadonlySet<ConsumerErrorCode> = new Set([
  "store_unavailable",
  "inference_unavailable",
  "produce_failed",
  "commit_failed",
]);

/** `retryable` defaults to true for store_unavailable, inference_unavailable, produce_failed, commit_failed. */
export class ConsumerError extends SluiceError<ConsumerErrorCode> {
  override readonly name = "ConsumerError";

  protected override retryableByDefault(code: ConsumerErrorCode): boolean {
    return RETRYABLE_CODES.has(code);
  }

  /**
   * Wraps anything thrown into a ConsumerError; a ConsumerError passes through unchanged, anything
   * else gets `fallback` (@default "internal") with the original kept as `cause`.
   */
  static from(error: unknown, fallback: ConsumerErrorCode = "internal"): ConsumerError {
    if (error instanceof ConsumerError) return error;
    return new ConsumerError(fallback, errorMessage(error), { cause: error });
  }

  /** Type guard, optionally for one code: `ConsumerError.is(e, "store_unavailable")`. */
  static is(value: unknown, code?: ConsumerErrorCode): value is ConsumerError {
    return value instanceof ConsumerError && (code === undefined || value.code === code);
  }
}
