/**
 * Where the layers below gRPC meet it: each error code of the model layer and of the batcher gets
 * its gRPC status here, and each status its `reason` label in sluice_inference_requests_total.
 */
import { status } from "@grpc/grpc-js";
import { errorMessage } from "@sluice/kit";
import { InferenceError } from "@sluice/proto";
import { BatcherError, type BatcherErrorCode } from "../batching/index.js";
import { ModelError, type ModelErrorCode } from "../models/model-error.js";

const BATCHER_STATUS: Record<BatcherErrorCode, status> = {
  queue_full: status.RESOURCE_EXHAUSTED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  closed: status.UNAVAILABLE,
  too_large: status.INVALID_ARGUMENT,
  invalid_argument: status.INVALID_ARGUMENT,
};

/** As Triton answers: a load that could not apply everything is INVALID_ARGUMENT. */
const MODEL_STATUS: Record<ModelErrorCode, status> = {
  invalid_name: status.INVALID_ARGUMENT,
  invalid_config: status.INVALID_ARGUMENT,
  load_failed: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  unavailable: status.UNAVAILABLE,
};

/**
 * Anything a handler threw, as the InferenceError the caller sees. Errors nobody described (a
 * runtime crash, a bug) are INTERNAL, with the original kept as the cause.
 */
export function toInferenceError(error: unknown): InferenceError {
  if (error instanceof InferenceError) return error;
  if (error instanceof BatcherError) {
    return new InferenceError(BATCHER_STATUS[error.code], error.message, { cause: error });
  }
  if (error instanceof ModelError) {
    return new InferenceError(MODEL_STATUS[error.code], error.message, { cause: error });
  }
  return new InferenceError(status.INTERNAL, errorMessage(error), { cause: error });
}

/** The `reason` label of a failed request; statuses a client cannot cause are "internal". */
const REASON: Partial<Record<status, string>> = {
  [status.INVALID_ARGUMENT]: "invalid_argument",
  [status.NOT_FOUND]: "not_found",
  [status.RESOURCE_EXHAUSTED]: "queue_full",
  [status.DEADLINE_EXCEEDED]: "deadline_exceeded",
  [status.CANCELLED]: "cancelled",
  [status.UNAVAILABLE]: "unavailable",
};

export function failureReason(code: status): string {
  return REASON[code] ?? "internal";
}
