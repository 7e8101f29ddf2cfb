/**
 * Why the batcher refused or dropped a request. The gRPC layer maps each code to a status
 * (grpc/status-mapping.ts: queue_full → RESOURCE_EXHAUSTED, deadline_exceeded → DEADLINE_EXCEEDED,
 * cancelled → CANCELLED, closed → UNAVAILABLE, too_large and invalid_argument → INVALID_ARGUMENT);
 * the batcher itself knows nothing about gRPC.
 */
import { SluiceError } from "@sluice/kit";

export const BATCHER_ERROR_CODES = [
  "queue_full",
  "deadline_exceeded",
  "cancelled",
  "closed",
  "too_large",
  "invalid_argument",
] as const;

export type BatcherErrorCode = (typeof BATCHER_ERROR_CODES)[number];

/**
 * Codes worth retrying, possibly elsewhere: the queue drains, another replica is open. The other
 * codes will fail the same way on a retry.
 */
const RETRYABLE_CODES: ReadonlySet<BatcherErrorCode> = new Set(["queue_full", "closed"]);

/**
 * The one error type of the batching boundary. The factories below build every message the
 * batcher emits, so they all name the model (`label`) and say what was expected and what came.
 */
export class BatcherError extends SluiceError<BatcherErrorCode> {
  override readonly name = "BatcherError";

  /** Whether the same request may succeed if sent again later. */
  protected override retryableByDefault(code: BatcherErrorCode): boolean {
    return RETRYABLE_CODES.has(code);
  }

  /** Type guard, optionally for one code: `BatcherError.is(e, "queue_full")`. */
  static is(value: unknown, code?: BatcherErrorCode): value is BatcherError {
    return value instanceof BatcherError && (code === undefined || value.code === code);
  }

  static queueFull(label: string, pending: number, maxQueueSize: number): BatcherError {
    return new BatcherError(
      "queue_full",
      `queue for ${label} is full: ${pending} requests pending (max_queue_size ${maxQueueSize})`,
    );
  }

  /** `waitedMs` undefined: the deadline had already passed when the request arrived. */
  static deadlineExceeded(label: string, lateMs: number, waitedMs?: number): BatcherError {
    const where =
      waitedMs === undefined
        ? "before it was queued"
        : `after ${ms(waitedMs)} in the queue; it was not run`;
    return new BatcherError(
      "deadline_exceeded",
      `request for ${label} missed its deadline by ${ms(lateMs)} ${where}`,
    );
  }

  /** `waitedMs` undefined: the signal was already aborted when the request arrived. */
  static cancelled(label: string, cause: unknown, waitedMs?: number): BatcherError {
    const when =
      waitedMs === undefined ? "before it was queued" : `after ${ms(waitedMs)} in the queue`;
    return new BatcherError("cancelled", `request for ${label} was cancelled ${when}`, { cause });
  }

  static closed(label: string): BatcherError {
    return new BatcherError("closed", `${label} is draining: it accepts no new requests`);
  }

  static tooLarge(label: string, rows: number, maxBatchSize: number): BatcherError {
    return new BatcherError(
      "too_large",
      `request for ${label} has ${rows} rows but max_batch_size is ${maxBatchSize}: send at most ${maxBatchSize} rows per request`,
    );
  }

  static invalidRows(label: string, rows: unknown, maxBatchSize: number): BatcherError {
    const expected =
      maxBatchSize === 0
        ? "1 row (the model has no batch dimension, max_batch_size 0)"
        : "an integer number of rows ≥ 1";
    return new BatcherError(
      "invalid_argument",
      `request for ${label}: expected ${expected}, got ${String(rows)}`,
    );
  }
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}
