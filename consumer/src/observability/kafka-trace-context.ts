/**
 * W3C trace context in Kafka record headers, and the messaging semantic-convention attributes the
 * pipeline's spans share. Only @opentelemetry/api is used: without an SDK the global propagator
 * is a no-op, `tracePropagationEnabled()` says so, and callers skip every per-event step (no
 * header is parsed, no span object made) — tracing off costs one check per micro-batch.
 */
import {
  ROOT_CONTEXT,
  propagation,
  trace,
  type Attributes,
  type Context,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import type { HeaderValue, RecordHeaders } from "../ports/kafka.js";

/** The tracer every consumer-side span comes from (the load generator's included). */
export const CONSUMER_TRACER = "@sluice/consumer";

function text(value: HeaderValue): string {
  return typeof value === "string" ? value : value.toString("utf8");
}

/**
 * Reads headers as kafkajs hands them over: Buffers (or strings), a repeated header as an array.
 * An array is returned whole; the W3C propagator takes its first value.
 */
export const kafkaHeadersGetter: TextMapGetter<RecordHeaders> = {
  keys: (headers) => Object.keys(headers),
  get(headers, key) {
    const value = headers[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.map(text) : text(value);
  },
};

/** Writes a header as a string, replacing one of the same name (a stale `traceparent` included). */
export const kafkaHeadersSetter: TextMapSetter<RecordHeaders> = {
  set(headers, key, value) {
    headers[key] = value;
  },
};

/**
 * Whether a propagator is registered (an SDK started). Without one, nothing can be extracted or
 * injected, so per-event tracing work is skipped altogether.
 */
export function tracePropagationEnabled(): boolean {
  return propagation.fields().length > 0;
}

/** The trace context an event's producer put in its headers; ROOT_CONTEXT when there is none. */
export function extractEventContext(headers: RecordHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers, kafkaHeadersGetter);
}

/** The span context carried by `context`, when it is a valid one. */
export function remoteSpanContext(context: Context): SpanContext | undefined {
  const spanContext = trace.getSpanContext(context);
  return spanContext !== undefined && trace.isSpanContextValid(spanContext)
    ? spanContext
    : undefined;
}

/** Writes `context`'s trace (traceparent, tracestate) into `headers`. */
export function injectTraceContext(context: Context, headers: RecordHeaders): void {
  propagation.inject(context, headers, kafkaHeadersSetter);
}

/** Messaging semantic-convention operation types, for `messaging.operation.type`. */
export type MessagingOperation = "create" | "send" | "process";

/** The attributes every Kafka span has: system, operation and destination. */
export function messagingAttributes(
  operation: MessagingOperation,
  topic: string | undefined,
): Attributes {
  const attributes: Attributes = {
    "messaging.system": "kafka",
    "messaging.operation.type": operation,
    "messaging.operation.name": operation,
  };
  if (topic !== undefined) attributes["messaging.destination.name"] = topic;
  return attributes;
}

/** `<operation> <topic>`, the span name the messaging conventions give (the operation alone for several topics). */
export function messagingSpanName(
  operation: MessagingOperation,
  topic: string | undefined,
): string {
  return topic === undefined ? operation : `${operation} ${topic}`;
}
