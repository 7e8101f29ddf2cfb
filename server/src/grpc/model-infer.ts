/**
 * One ModelInfer, from request to response: resolve the version, validate against it and queue on
 * it (all in one tick, so a hot-swap never splits them), then encode the outputs. The observer
 * hears of the request's arrival and of its answer.
 */
import { status, type Metadata } from "@grpc/grpc-js";
import { InferenceError, type ModelInferRequest, type ModelInferResponse } from "@sluice/proto";
import type { ModelManager } from "../models/model-manager.js";
import type { ServedVersion } from "../models/served-version.js";
import type { ServerObserver } from "../observability/observer.js";
import { decodeInferRequest, encodeInferResponse } from "./infer-codec.js";
import { failureReason, toInferenceError } from "./status-mapping.js";

export interface ModelInferOptions {
  readonly manager: ModelManager;
  readonly observer: ServerObserver;
  /** Most elements in one input tensor. */
  readonly maxElementsPerInput: number;
  /** True once shutdown began: new requests are refused. */
  isDraining(): boolean;
}

/**
 * Runs one request. `deadline` is in performance.now() milliseconds; `signal` aborts it while it
 * is queued. Rejects with the InferenceError the caller is answered with.
 */
export type Infer = (
  request: ModelInferRequest,
  metadata: Metadata,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
) => Promise<ModelInferResponse>;

export function modelInfer(options: ModelInferOptions): Infer {
  const { manager, observer } = options;
  return async (request, metadata, deadline, signal) => {
    const observed = observer.requestStarted({
      method: "ModelInfer",
      model: request.modelName,
      carrier: metadata,
    });
    const { receivedAt } = observed;
    let served: ServedVersion | undefined;
    try {
      if (options.isDraining()) {
        throw new InferenceError(
          status.UNAVAILABLE,
          "the server is shutting down and takes no new requests",
        );
      }
      served = manager.resolve(request.modelName, request.modelVersion);
      const decoded = decodeInferRequest(request, served, {
        maxElementsPerInput: options.maxElementsPerInput,
      });
      const timeoutMicros =
        decoded.timeoutMicros ?? (served.config.batching.defaultTimeoutMicros || undefined);
      const timeoutDeadline =
        timeoutMicros === undefined ? undefined : receivedAt + timeoutMicros / 1000;
      const outcome = await served.submit(
        {
          inputs: decoded.inputs,
          rows: decoded.rows,
          outputNames: decoded.outputNames,
          request: observed,
        },
        {
          priority: decoded.priority,
          deadline:
            deadline === undefined
              ? timeoutDeadline
              : Math.min(deadline, timeoutDeadline ?? Infinity),
          signal,
        },
      );
      const response = encodeInferResponse(
        request,
        served,
        decoded.outputNames,
        outcome.outputs,
        decoded.rawOutput,
      );
      observer.requestSucceeded(observed, {
        model: served.model,
        version: served.version,
        queueMs: outcome.queueMs,
      });
      return response;
    } catch (error) {
      const failure = toInferenceError(error);
      served?.statistics.recordFailure(performance.now() - receivedAt);
      observer.requestFailed(observed, {
        // Only names the server knows become label values.
        model:
          served?.model ??
          (manager.isReady(request.modelName, "") ? request.modelName : "_unknown"),
        version: served ? String(served.version) : "",
        status: failure.status,
        reason: failureReason(failure.status),
        message: failure.details,
      });
      throw failure;
    }
  };
}
