/**
 * Just enough of an OpenTelemetry SDK for tests, built on @opentelemetry/api alone: a context
 * manager on AsyncLocalStorage, a W3C `traceparent` propagator, and a tracer that records spans.
 * Not part of the package (excluded from the build).
 */
import { randomBytes } from "node:crypto";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  type Attributes,
  type Context,
  type Exception,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  TraceFlags,
  context,
  propagation,
  trace,
} from "@opentelemetry/api";

export interface RecordedSpan {
  name: string;
  kind: SpanKind | undefined;
  attributes: Attributes;
  events: { name: string; attributes: Attributes }[];
  status: SpanStatus | undefined;
  exceptions: Exception[];
  spanContext: SpanContext;
  parentSpanId: string | undefined;
  ended: boolean;
}

const traceparentPropagator: TextMapPropagator = {
  inject(ctx, carrier, setter) {
    const spanContext = trace.getSpanContext(ctx);
    if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return;
    const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0");
    setter.set(carrier, "traceparent", `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`);
  },
  extract(ctx) {
    return ctx;
  },
  fields() {
    return ["traceparent"];
  },
};

class RecordingSpan implements Span {
  constructor(readonly record: RecordedSpan) {}
  spanContext(): SpanContext {
    return this.record.spanContext;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    if (value !== undefined) this.record.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: unknown): this {
    this.record.events.push({ name, attributes: (attributes ?? {}) as Attributes });
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.record.status = status;
    return this;
  }
  updateName(name: string): this {
    this.record.name = name;
    return this;
  }
  end(): void {
    this.record.ended = true;
  }
  isRecording(): boolean {
    return !this.record.ended;
  }
  recordException(exception: Exception): void {
    this.record.exceptions.push(exception);
  }
}

class RecordingTracer {
  constructor(readonly spans: RecordedSpan[]) {}
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = trace.getSpanContext(ctx);
    const record: RecordedSpan = {
      name,
      kind: options.kind,
      attributes: { ...options.attributes },
      events: [],
      status: undefined,
      exceptions: [],
      spanContext: {
        traceId: parent?.traceId ?? randomBytes(16).toString("hex"),
        spanId: randomBytes(8).toString("hex"),
        traceFlags: TraceFlags.SAMPLED,
      },
      parentSpanId: parent?.spanId,
      ended: false,
    };
    this.spans.push(record);
    return new RecordingSpan(record);
  }
}

export interface RecordingOtel {
  readonly spans: RecordedSpan[];
  /** Runs `fn` with a (remote) parent span context active, as an instrumented server handler would. */
  withParent<T>(parent: SpanContext, fn: () => T): T;
  uninstall(): void;
}

/** Registers the recording tracer, the propagator and the context manager globally. */
export function installRecordingOtel(): RecordingOtel {
  const spans: RecordedSpan[] = [];
  const tracer = new RecordingTracer(spans) as unknown as Tracer;
  const provider: TracerProvider = { getTracer: () => tracer };
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(traceparentPropagator);
  trace.setGlobalTracerProvider(provider);
  return {
    spans,
    withParent: (parent, fn) => context.with(trace.setSpanContext(context.active(), parent), fn),
    uninstall() {
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
