/**
 * What the server reports about its work, in one interface: a request arriving and being answered
 * or failed, a batch executed, a model version loaded, failing to load or unloaded. The gRPC layer,
 * ServedVersion and ModelManager call it; Prometheus metrics and OpenTelemetry tracing sit behind
 * it (telemetry-observer.ts), so none of them builds a metric or a span itself.
 */
import type { Span } from "@opentelemetry/api";

/** The caller's trace context, as gRPC metadata carries it (any `Metadata` fits). */
export interface TraceCarrier {
  getMap(): Record<string, unknown>;
  get(key: string): readonly (string | Buffer)[];
}

/** One request as the observer follows it: made by `requestStarted`, handed back on each later event. */
export interface ObservedRequest {
  /** performance.now() when the request arrived. */
  readonly receivedAt: number;
  /** The request's span (non-recording when no tracer is registered). */
  readonly span: Span;
}

export interface RequestStart {
  /** The RPC, as the proto names it (`ModelInfer`). */
  readonly method: string;
  /** The model the request names, whether or not it exists. */
  readonly model: string;
  readonly carrier: TraceCarrier;
}

export interface RequestSuccess {
  readonly model: string;
  readonly version: number;
  /** Time the request waited in the batcher's queue. */
  readonly queueMs: number;
}

export interface RequestFailure {
  /** Label values: only names the server knows ("_unknown" otherwise, "" for no version). */
  readonly model: string;
  readonly version: string;
  /** The gRPC status answered, and its `reason` label. */
  readonly status: number;
  readonly reason: string;
  readonly message: string;
}

export interface BatchExecution {
  readonly model: string;
  readonly version: number;
  /** Rows computed in the one run. */
  readonly rows: number;
  readonly computeMs: number;
  /** performance.now() when the batch left the queue and when its outputs were split. */
  readonly dispatchedAt: number;
  readonly doneAt: number;
  readonly requests: readonly {
    readonly request: ObservedRequest;
    readonly enqueuedAt: number;
    readonly rows: number;
  }[];
}

export interface VersionLoad {
  readonly model: string;
  readonly version: number;
  /** Load and warm-up. */
  readonly durationMs: number;
  /** Why it failed; undefined when it loaded. */
  readonly failure: string | undefined;
}

export interface ServerObserver {
  requestStarted(start: RequestStart): ObservedRequest;
  requestSucceeded(request: ObservedRequest, success: RequestSuccess): void;
  requestFailed(request: ObservedRequest, failure: RequestFailure): void;
  batchExecuted(batch: BatchExecution): void;
  versionLoaded(load: VersionLoad): void;
  versionUnloaded(model: string, version: number): void;
}
