/**
 * OpenTelemetry spans of the sidecar, through the API only: with no tracer provider registered they
 * are non-recording and nearly free. A SERVER span per ModelInfer continues the caller's W3C trace
 * context from gRPC metadata; its children show the queue wait and the execution, and each executed
 * batch gets one span linked to every request span it served. The batch span is a child of the
 * first request it served, so one caller's trace holds the execution itself and every other
 * caller reaches it through the link on its own `sluice.execute` span.
 */
import {
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Link,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import type { BatchExecution, TraceCarrier } from "./observer.js";

const tracer = trace.getTracer("sluice-server");

const metadataGetter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    if (values.length === 0) return undefined;
    return values.map((value) => value.toString());
  },
};

/** performance.now() milliseconds → epoch milliseconds, as span times. */
const epochMs = (t: number) => performance.timeOrigin + t;

/** Starts the SERVER span of one RPC, continuing the trace context the caller sent in metadata. */
export function startRpcSpan(
  method: string,
  metadata: TraceCarrier,
  attributes: Record<string, string | number>,
): Span {
  const parent = propagation.extract(context.active(), metadata, metadataGetter);
  return tracer.startSpan(
    `inference.GRPCInferenceService/${method}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": "inference.GRPCInferenceService",
        "rpc.method": method,
        ...attributes,
      },
    },
    parent,
  );
}

export function endSpan(span: Span, error?: { code: number; message: string }): void {
  if (!span.isRecording()) return;
  span.setAttribute("rpc.grpc.status_code", error?.code ?? 0);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.end();
}

/** Records a batch: its own span linked to the requests it served, and each request's queue and execute spans. */
export function recordBatch(batch: BatchExecution): void {
  const links: Link[] = [];
  let first: Span | undefined;
  for (const { request } of batch.requests) {
    if (!request.span.isRecording()) continue;
    links.push({ context: request.span.spanContext() });
    first ??= request.span;
  }
  if (first === undefined) return;
  const attributes = {
    "sluice.model.name": batch.model,
    "sluice.model.version": String(batch.version),
    "sluice.batch.size": batch.rows,
    "sluice.batch.requests": batch.requests.length,
  };
  const batchSpan = tracer.startSpan(
    "sluice.batch.execute",
    { kind: SpanKind.INTERNAL, startTime: epochMs(batch.dispatchedAt), links, attributes },
    trace.setSpan(context.active(), first),
  );
  batchSpan.end(epochMs(batch.doneAt));
  for (const { request, enqueuedAt, rows } of batch.requests) {
    const span = request.span;
    if (!span.isRecording()) continue;
    const parent = trace.setSpan(context.active(), span);
    tracer
      .startSpan("sluice.queue", { startTime: epochMs(enqueuedAt), attributes }, parent)
      .end(epochMs(batch.dispatchedAt));
    tracer
      .startSpan(
        "sluice.execute",
        {
          startTime: epochMs(batch.dispatchedAt),
          attributes: { ...attributes, "sluice.request.rows": rows },
          links: [{ context: batchSpan.spanContext() }],
        },
        parent,
      )
      .end(epochMs(batch.doneAt));
  }
}
