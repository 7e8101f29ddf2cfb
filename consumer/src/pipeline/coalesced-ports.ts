/**
 * The feature store and the sidecar as the micro-batches see them: the calls of the partitions that
 * reach them in one turn of the event loop go out as one (`turn-coalescer.ts`), at most a
 * micro-batch's worth of events or rows per call. Each micro-batch gets its own part of the answer,
 * as if it had called alone.
 */
import { ConsumerError } from "../errors.js";
import { coalescedSpan } from "../observability/coalesced-span.js";
import type { FeatureStore, StoreRequest, StoreResponse } from "../ports/feature-store.js";
import type { InferRequest, InferResponse, Inference, OutputTensor } from "../ports/inference.js";
import { TurnCoalescer } from "./turn-coalescer.js";

/** `store` with its `apply` calls merged per turn, up to `limit` events per call. */
export function coalescedStore(store: FeatureStore, limit: number): FeatureStore {
  const coalescer = new TurnCoalescer<StoreRequest, StoreResponse>({
    size: (request) => Math.max(1, request.events.length),
    limit,
    // One pipeline has one plan: requests of another (a test's) never share a call.
    key: (request) => request.plan,
    run: async (requests) => {
      if (requests.length === 1) return [await store.apply(requests[0]!)];
      return splitStoreResponse(requests, await store.apply(mergeStoreRequests(requests)));
    },
    around: coalescedSpan("sluice.store.coalesced"),
  });
  return {
    apply: (request) => coalescer.call(request),
    close: () => store.close(),
  };
}

export function mergeStoreRequests(requests: readonly StoreRequest[]): StoreRequest {
  return {
    plan: requests[0]!.plan,
    events: requests.flatMap((request) => request.events),
    lookups: requests.flatMap((request) => request.lookups),
  };
}

export function splitStoreResponse(
  requests: readonly StoreRequest[],
  merged: StoreResponse,
): StoreResponse[] {
  const windows = requests[0]!.plan.windows.length;
  const withPrevious = merged.previousEventTimes.length > 0;
  const answers: StoreResponse[] = [];
  let event = 0;
  let lookup = 0;
  for (const { events, lookups } of requests) {
    answers.push({
      windowValues: merged.windowValues.subarray(
        event * windows,
        (event + events.length) * windows,
      ),
      previousEventTimes: withPrevious
        ? merged.previousEventTimes.slice(event, event + events.length)
        : [],
      lookups: merged.lookups.slice(lookup, lookup + lookups.length),
    });
    event += events.length;
    lookup += lookups.length;
  }
  return answers;
}

/** `inference` with its `infer` calls merged per turn and model version, up to `limit` rows. */
export function coalescedInference(inference: Inference, limit: number): Inference {
  const coalescer = new TurnCoalescer<InferRequest, InferResponse>({
    size: (request) => Math.max(1, request.count),
    limit,
    key: (request) =>
      `${request.model}\n${String(request.version)}\n${request.input}\n${request.width}\n${request.outputs.join("\n")}`,
    run: async (requests) => {
      if (requests.length === 1) return [await inference.infer(requests[0]!)];
      return splitInferResponse(requests, await inference.infer(mergeInferRequests(requests)));
    },
    // A row the model rejects fails the merged call: each micro-batch is then sent alone, and only
    // the one holding that row is rejected (its scorer isolates the row).
    alone: (error) => error instanceof ConsumerError && error.code === "inference_rejected",
    around: coalescedSpan("sluice.inference.coalesced"),
  });
  return {
    describe: (model, version) => inference.describe(model, version),
    infer: (request) => coalescer.call(request),
    close: () => inference.close(),
  };
}

export function mergeInferRequests(requests: readonly InferRequest[]): InferRequest {
  const first = requests[0]!;
  let count = 0;
  for (const request of requests) count += request.count;
  const rows = new Float32Array(count * first.width);
  let at = 0;
  let deadlineMs = first.deadlineMs;
  for (const request of requests) {
    rows.set(request.rows.subarray(0, request.count * first.width), at);
    at += request.count * first.width;
    deadlineMs = Math.min(deadlineMs, request.deadlineMs);
  }
  return { ...first, rows, count, deadlineMs };
}

export function splitInferResponse(
  requests: readonly InferRequest[],
  merged: InferResponse,
): InferResponse[] {
  let total = 0;
  for (const request of requests) total += request.count;
  const parts = requests.map(() => new Map<string, OutputTensor>());
  for (const [name, tensor] of merged.outputs) {
    const [rows, ...rest] = tensor.shape;
    let perRow = 1;
    for (const dimension of rest) perRow *= dimension;
    if (rows !== total || tensor.data.length !== total * perRow) {
      throw new ConsumerError(
        "internal",
        `malformed inference response: expected "${name}" with ${total} rows of ${perRow} values for ${requests.length} merged micro-batches, got shape [${tensor.shape.join(", ")}] with ${tensor.data.length} values`,
        { retryable: false },
      );
    }
    let row = 0;
    requests.forEach((request, i) => {
      parts[i]!.set(name, {
        datatype: tensor.datatype,
        shape: [request.count, ...rest],
        data: slice(tensor.data, row * perRow, (row + request.count) * perRow),
      });
      row += request.count;
    });
  }
  return parts.map((outputs) => ({ modelVersion: merged.modelVersion, outputs }));
}

function slice<T extends number | bigint>(
  data: ArrayLike<T>,
  from: number,
  to: number,
): ArrayLike<T> {
  const view = data as ArrayLike<T> & { subarray?: (from: number, to: number) => ArrayLike<T> };
  return typeof view.subarray === "function"
    ? view.subarray(from, to)
    : Array.prototype.slice.call(data, from, to);
}
