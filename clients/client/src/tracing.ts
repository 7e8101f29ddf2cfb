/**
 * One OpenTelemetry CLIENT span per call, following the RPC semantic conventions, with the W3C
 * trace context injected into the call's gRPC metadata so the server's span joins the same trace.
 *
 * Only @opentelemetry/api is used: with no SDK registered the tracer and propagator are no-ops,
 * so a call pays for one non-recording span object and nothing else.
 */
import { status, type Metadata } from "@grpc/grpc-js";
import {
  type Attributes,
  type Span,
  type TextMapSetter,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from "@opentelemetry/api";
import { InferenceError } from "@sluice/proto";

const TRACER_NAME = "@sluice/client";
const TRACER_VERSION = "0.1.0";

// The global tracer is a proxy, so taking it once here still picks up an SDK registered later.
const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);

/** What a span describes: one RPC, and the model it is about when there is one. */
export interface CallTarget {
  /** Fully qualified service, e.g. `inference.GRPCInferenceService`. */
  readonly service: string;
  /** Method as named in the proto, e.g. `ModelInfer`. */
  readonly method: string;
  readonly model?: string | undefined;
  readonly version?: string | undefined;
}

/** `server.address` / `server.port` of the channel, computed once per client. */
export type ServerAttributes = Readonly<Attributes>;

export const metadataSetter: TextMapSetter<Metadata> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

/** Span attributes for the server a client talks to, from its `host:port` address. */
export function serverAttributes(address: string): ServerAttributes {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (match === null) return { "server.address": address };
  return { "server.address": match[1], "server.port": Number(match[2]) };
}

/**
 * Runs `call` inside a CLIENT span named `<service>/<method>`, after injecting the span's context
 * into `metadata`. The span ends with the call's gRPC status; a failure is recorded on it and
 * rethrown as an InferenceError.
 */
export async function traceCall<T>(
  target: CallTarget,
  server: ServerAttributes,
  metadata: Metadata,
  call: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = context.active();
  const attributes: Attributes = {
    "rpc.system": "grpc",
    "rpc.service": target.service,
    "rpc.method": target.method,
    ...server,
  };
  if (target.model !== undefined) attributes["sluice.model.name"] = target.model;
  if (target.version !== undefined && target.version !== "")
    attributes["sluice.model.version"] = target.version;
  const span = tracer.startSpan(
    `${target.service}/${target.method}`,
    { kind: SpanKind.CLIENT, attributes },
    parent,
  );
  const active = trace.setSpan(parent, span);
  propagation.inject(active, metadata, metadataSetter);
  try {
    const result = await context.with(active, call, undefined, span);
    span.setAttribute("rpc.grpc.status_code", status.OK);
    return result;
  } catch (thrown) {
    const error = InferenceError.from(thrown);
    span.setAttribute("rpc.grpc.status_code", error.status);
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    throw error;
  } finally {
    span.end();
  }
}

/** Records a retry on the call's span; free when the span is not recording. */
export function recordRetry(
  span: Span,
  error: InferenceError,
  retry: number,
  delayMs: number,
): void {
  if (!span.isRecording()) return;
  span.addEvent("retry", {
    "rpc.grpc.status_code": error.status,
    "sluice.retry.number": retry,
    "sluice.retry.delay_ms": Math.round(delayMs),
  });
}
