/**
 * The span around one call made for several micro-batches (`pipeline/turn-coalescer.ts`): a child
 * of the first caller's context, as the call would have been alone, and linked to each other
 * caller's span, so every micro-batch's trace reaches the Redis round trip or the ModelInfer call
 * that served it (the call's own spans are children of this one).
 */
import {
  SpanKind,
  SpanStatusCode,
  isSpanContextValid,
  trace,
  type Context,
  type Link,
} from "@opentelemetry/api";
import { errorMessage } from "@sluice/kit";
import { CONSUMER_TRACER } from "./kafka-trace-context.js";

const tracer = trace.getTracer(CONSUMER_TRACER);

/** `name`'s wrapper for a merged call: runs `call` in a span linked to `callers` after the first. */
export function coalescedSpan(
  name: string,
): <T>(callers: readonly Context[], call: () => Promise<T>) => Promise<T> {
  return (callers, call) => {
    const links: Link[] = [];
    for (let i = 1; i < callers.length; i++) {
      const spanContext = trace.getSpanContext(callers[i]!);
      if (spanContext !== undefined && isSpanContextValid(spanContext)) {
        links.push({ context: spanContext });
      }
    }
    return tracer.startActiveSpan(
      name,
      { kind: SpanKind.INTERNAL, links, attributes: { "sluice.coalesced.calls": callers.length } },
      async (span) => {
        try {
          return await call();
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  };
}
