/**
 * OpenTelemetry for tests: the real SDK with its spans kept in memory — an AsyncLocalStorage
 * context manager (so `context.active()` follows awaits, as under NodeSDK), the W3C propagator,
 * and a tracer provider whose finished spans an InMemorySpanExporter keeps. `uninstall()` puts the
 * no-op API back. The one way every test (client, sidecar, consumer) records spans.
 */
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { context, propagation, trace, type SpanContext } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";

export interface InMemoryTracing {
  /** Finished spans so far, in the order they ended. */
  spans(): ReadableSpan[];
  reset(): void;
  /** Runs `fn` with a (remote) parent span context active, as an instrumented caller would. */
  withParent<T>(parent: SpanContext, fn: () => T): T;
  uninstall(): Promise<void>;
}

export function installInMemoryTracing(): InMemoryTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    withParent: (parent, fn) => context.with(trace.setSpanContext(context.active(), parent), fn),
    async uninstall() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
