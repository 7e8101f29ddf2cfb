/**
 * The spans of one micro-batch, following the OpenTelemetry messaging conventions (the shape is
 * pinned by micro-batch-trace.test.ts and test/trace-e2e.test.ts, and drawn in docs/tracing.md):
 *
 * - `process <topic>` CONSUMER for the micro-batch: a child of the first sampled event's context
 *   and linked to every event's context. Feature computation, the Redis round trip, the ModelInfer
 *   call and the send of the outputs run inside it, so they are its children: the first event's
 *   trace holds the whole micro-batch, and every other event reaches it through a link.
 * - `process <topic>` CONSUMER per event: a child of that event's own context (its producer's
 *   span), linked to the micro-batch span; carries the partition, offset, key and outcome.
 * - `create <topic>` PRODUCER per output record: a child of its event's process span. Its context
 *   goes into the record's headers, so whatever consumes the prediction continues the event's trace.
 * - `send <topic>` CLIENT around producing the micro-batch's records (and, exactly-once, committing
 *   its offset in the same transaction), linked to every create span.
 *
 * Without an SDK the pipeline uses `NO_TRACE`, which does nothing at all.
 */
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context as contextApi,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from "@opentelemetry/api";
import { ConsumerError } from "../errors.js";
import type { InputRecord, OutputRecord } from "../ports/kafka.js";
import {
  CONSUMER_TRACER,
  extractEventContext,
  injectTraceContext,
  messagingAttributes,
  messagingSpanName,
  remoteSpanContext,
  tracePropagationEnabled,
} from "./kafka-trace-context.js";

const tracer = trace.getTracer(CONSUMER_TRACER);

/** What the spans say about the pipeline besides the records. */
export interface MicroBatchTraceSettings {
  readonly consumerGroup: string;
  readonly model: string;
}

/** The tracing side of one micro-batch, told about each stage as it happens. */
export interface MicroBatchTrace {
  /** Runs `work` with the micro-batch span active, so the spans it starts become its children. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** `records[index]` was scored by `modelVersion`. */
  scored(index: number, modelVersion: string): void;
  /** `records[index]` goes to the dead-letter topic because of `error`. */
  deadLettered(index: number, error: ConsumerError): void;
  /** `record` was made for `records[index]`: gives it a create span and that span's context in its headers. */
  created(index: number, record: OutputRecord): void;
  /** Runs `deliver`, which produces `records`, inside a send span linked to their create spans. */
  send<T>(records: readonly OutputRecord[], deliver: () => Promise<T>): Promise<T>;
  /** Ends every span; with `error` when the micro-batch failed as a whole (it will be retried). */
  end(error?: unknown): void;
}

/** Tracing off: every call is a no-op, `run` and `send` just run their work. */
export const NO_TRACE: MicroBatchTrace = {
  run: (work) => work(),
  scored() {},
  deadLettered() {},
  created() {},
  send: (_records, deliver) => deliver(),
  end() {},
};

/**
 * The trace of a micro-batch of `records` from `topic[partition]`; `NO_TRACE` without settings or
 * when no propagator is registered (no SDK), so tracing off reads no header and makes no span.
 */
export function startMicroBatchTrace(
  topic: string,
  partition: number,
  records: readonly InputRecord[],
  settings: MicroBatchTraceSettings | undefined,
): MicroBatchTrace {
  if (settings === undefined || records.length === 0 || !tracePropagationEnabled()) {
    return NO_TRACE;
  }
  return new RecordingMicroBatchTrace(topic, partition, records, settings);
}

function failed(span: Span, error: ConsumerError): void {
  span.setAttribute("error.type", error.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

class RecordingMicroBatchTrace implements MicroBatchTrace {
  readonly #batch: Span;
  /** The active context inside the micro-batch: its span. */
  readonly #context: Context;
  /** Per input record, its process span. */
  readonly #events: Span[];
  readonly #created: Link[] = [];
  #versioned = false;

  constructor(
    topic: string,
    partition: number,
    records: readonly InputRecord[],
    settings: MicroBatchTraceSettings,
  ) {
    const parents = records.map((record) => extractEventContext(record.headers));
    const links: Link[] = [];
    let firstTraced: Context | undefined;
    let firstSampled: Context | undefined;
    const traced = parents.map((parent) => {
      const spanContext = remoteSpanContext(parent);
      if (spanContext === undefined) return false;
      links.push({ context: spanContext });
      firstTraced ??= parent;
      if (firstSampled === undefined && (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0) {
        firstSampled = parent;
      }
      return true;
    });
    const name = messagingSpanName("process", topic);
    const common: Attributes = {
      ...messagingAttributes("process", topic),
      "messaging.destination.partition.id": String(partition),
      "messaging.consumer.group.name": settings.consumerGroup,
    };
    // An unsampled first event must not hide the micro-batch from a sampled one's trace.
    const batchParent = firstSampled ?? firstTraced ?? contextApi.active();
    this.#batch = tracer.startSpan(
      name,
      {
        kind: SpanKind.CONSUMER,
        links,
        attributes: {
          ...common,
          "messaging.batch.message_count": records.length,
          "sluice.model.name": settings.model,
          "sluice.batch.first_offset": Number(records[0]!.offset),
          "sluice.batch.last_offset": Number(records[records.length - 1]!.offset),
        },
      },
      batchParent,
    );
    this.#context = trace.setSpan(contextApi.active(), this.#batch);
    const batchLink: Link[] = [{ context: this.#batch.spanContext() }];
    this.#events = records.map((record, i) => {
      const attributes: Attributes = {
        ...common,
        "messaging.kafka.offset": Number(record.offset),
      };
      if (record.key !== null) attributes["messaging.kafka.message.key"] = record.key.toString();
      // An event without trace context has no trace of its own to continue: the micro-batch's is it.
      return traced[i]
        ? tracer.startSpan(
            name,
            { kind: SpanKind.CONSUMER, links: batchLink, attributes },
            parents[i],
          )
        : tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, this.#context);
    });
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return contextApi.with(this.#context, work);
  }

  scored(index: number, modelVersion: string): void {
    const span = this.#events[index];
    if (span === undefined || !span.isRecording()) return;
    span.setAttributes({ "sluice.model.version": modelVersion, "sluice.outcome": "prediction" });
    if (!this.#versioned) {
      this.#versioned = true;
      this.#batch.setAttribute("sluice.model.version", modelVersion);
    }
  }

  deadLettered(index: number, error: ConsumerError): void {
    const span = this.#events[index];
    if (span === undefined || !span.isRecording()) return;
    span.setAttribute("sluice.outcome", "dead_letter");
    failed(span, error);
  }

  created(index: number, record: OutputRecord): void {
    const event = this.#events[index];
    if (event === undefined) return;
    const attributes = messagingAttributes("create", record.topic);
    if (record.key !== null) attributes["messaging.kafka.message.key"] = record.key.toString();
    const span = tracer.startSpan(
      messagingSpanName("create", record.topic),
      { kind: SpanKind.PRODUCER, attributes },
      trace.setSpan(this.#context, event),
    );
    if (span.isRecording()) this.#created.push({ context: span.spanContext() });
    span.end();
    injectTraceContext(trace.setSpan(this.#context, span), record.headers);
  }

  async send<T>(records: readonly OutputRecord[], deliver: () => Promise<T>): Promise<T> {
    const first = records[0]?.topic;
    const topic = records.every((record) => record.topic === first) ? first : undefined;
    const span = tracer.startSpan(
      messagingSpanName("send", topic),
      {
        kind: SpanKind.CLIENT,
        links: this.#created,
        attributes: {
          ...messagingAttributes("send", topic),
          "messaging.batch.message_count": records.length,
        },
      },
      this.#context,
    );
    try {
      return await contextApi.with(trace.setSpan(this.#context, span), deliver);
    } catch (error) {
      failed(span, ConsumerError.from(error));
      throw error;
    } finally {
      span.end();
    }
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      const failure = ConsumerError.from(error);
      this.#batch.recordException(failure);
      failed(this.#batch, failure);
      for (const span of this.#events) failed(span, failure);
    }
    for (const span of this.#events) span.end();
    this.#batch.end();
  }
}
