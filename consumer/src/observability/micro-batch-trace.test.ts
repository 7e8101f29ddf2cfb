import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "@sluice/kit";
import { randomBytes } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { ConsumerError } from "../errors.js";
import type { Delivery } from "../pipeline/delivery.js";
import { FakeFeatures, installInMemoryTracing, type InMemoryTracing } from "@sluice/testing";
import type { Inference, InferRequest, InferResponse } from "../ports/inference.js";
import type { InputRecord, OutputRecord, PartitionBatch, RecordHeaders } from "../ports/kafka.js";
import {
  extractEventContext,
  injectTraceContext,
  kafkaHeadersGetter,
  remoteSpanContext,
  tracePropagationEnabled,
} from "./kafka-trace-context.js";
import { MicroBatchProcessor } from "../pipeline/micro-batch.js";
import { NO_TRACE, startMicroBatchTrace } from "./micro-batch-trace.js";
import { PartitionHandler } from "../pipeline/partition-handler.js";
import { ConsumerMetrics } from "./consumer-metrics.js";
import { Scorer } from "../pipeline/scorer.js";

const SETTINGS = { consumerGroup: "fraud-group", model: "fraud" };

interface Producer {
  readonly traceId: string;
  readonly spanId: string;
}

function producer(): Producer {
  return { traceId: randomBytes(16).toString("hex"), spanId: randomBytes(8).toString("hex") };
}

function traceparent(from: Producer, sampled = true): Buffer {
  return Buffer.from(`00-${from.traceId}-${from.spanId}-${sampled ? "01" : "00"}`);
}

function record(offset: number, value: unknown, headers: RecordHeaders = {}): InputRecord {
  return {
    offset: String(offset),
    key: Buffer.from(`user-${offset}`),
    value: Buffer.from(JSON.stringify(value)),
    headers,
    timestamp: "0",
  };
}

/** One feature, the event's `x`; `bad: true` fails it. */
const features = new FakeFeatures(0);

class FakeSidecar implements Inference {
  /** The span active when each ModelInfer was sent. */
  readonly activeSpans: (string | undefined)[] = [];
  failWith: ConsumerError | undefined;
  describe(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  infer(request: InferRequest): Promise<InferResponse> {
    this.activeSpans.push(trace.getActiveSpan()?.spanContext().spanId);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const probabilities = new Float32Array(request.count * 2).fill(0.5);
    return Promise.resolve({
      modelVersion: "3",
      outputs: new Map([
        ["probabilities", { datatype: "FP32", shape: [request.count, 2], data: probabilities }],
      ]),
    });
  }
  close(): void {}
}

class FakeBatch implements PartitionBatch {
  readonly topic = "events";
  readonly partition = 2;
  readonly highWatermark = "100";
  paused = 0;
  constructor(readonly records: InputRecord[]) {}
  resolveOffset(): void {}
  heartbeat(): Promise<void> {
    return Promise.resolve();
  }
  isRunning(): boolean {
    return true;
  }
  isStale(): boolean {
    return false;
  }
  pause(): () => void {
    this.paused++;
    return () => {};
  }
}

/** A partition handler wired like the pipeline's, with fakes at the edges. */
function pipelineOf(sidecar: FakeSidecar) {
  const delivered: { records: readonly OutputRecord[]; activeSpan: string | undefined }[] = [];
  const delivery: Delivery = {
    deliver: (_topic, _partition, records) => {
      delivered.push({ records, activeSpan: trace.getActiveSpan()?.spanContext().spanId });
      return Promise.resolve({ produce: 0, commit: 0 });
    },
    assigned: () => {},
    close: () => Promise.resolve(),
  };
  const scorer = new Scorer(
    sidecar,
    {
      model: "fraud",
      version: undefined,
      input: "features",
      width: 1,
      probabilities: "probabilities",
      label: undefined,
    },
    1_000,
  );
  const processor = new MicroBatchProcessor(features, scorer, {
    model: "fraud",
    idField: "id",
    outputTopic: "predictions",
    deadLetterTopic: "dlq",
    reviewTopic: undefined,
    reviewBelow: 0,
  });
  const fatal: ConsumerError[] = [];
  const handler = new PartitionHandler(
    {
      maxEvents: 100,
      lingerMs: 0,
      retry: { initialBackoffMs: 10_000, maxBackoffMs: 10_000 },
      trace: SETTINGS,
    },
    {
      process: (topic, partition, records, microBatchTrace) =>
        processor.process(topic, partition, records, microBatchTrace),
      delivery,
      consumer: { resume: () => {} },
      log: silentLogger,
      observer: new ConsumerMetrics().forPipeline({
        pipeline: "fraud",
        model: "fraud",
        topics: { input: "events", output: "predictions", deadLetter: "dlq", review: undefined },
      }),
      onFatal: (error) => fatal.push(error),
    },
  );
  return { handler, delivered, fatal };
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

function linkedTo(span: ReadableSpan): string[] {
  return span.links.map((link) => link.context.spanId).sort();
}

function header(headers: RecordHeaders, name: string): string | undefined {
  const value = kafkaHeadersGetter.get(headers, name);
  return Array.isArray(value) ? value[0] : value;
}

describe("micro-batch tracing, without an SDK", () => {
  it("reads no header and makes no span", () => {
    let reads = 0;
    const headers = new Proxy<RecordHeaders>(
      {},
      {
        get: () => {
          reads++;
          return undefined;
        },
        ownKeys: () => {
          reads++;
          return [];
        },
      },
    );
    assert.equal(tracePropagationEnabled(), false);
    const traced = startMicroBatchTrace("events", 0, [record(0, {}, headers)], SETTINGS);
    assert.equal(traced, NO_TRACE);
    assert.equal(reads, 0, "headers untouched");
  });
});

describe("micro-batch tracing", () => {
  let tracing: InMemoryTracing;

  before(() => {
    tracing = installInMemoryTracing();
  });
  beforeEach(() => tracing.reset());
  after(() => tracing.uninstall());

  it("reads and writes W3C trace context in Kafka headers, Buffers and repeats included", () => {
    const from = producer();
    const context = extractEventContext({ traceparent: traceparent(from), other: "x" });
    assert.deepEqual(
      { ...remoteSpanContext(context), isRemote: true },
      { traceId: from.traceId, spanId: from.spanId, traceFlags: 1, isRemote: true },
    );
    const repeated = extractEventContext({
      traceparent: [traceparent(from), Buffer.from("00-garbage")],
    });
    assert.equal(remoteSpanContext(repeated)?.spanId, from.spanId, "the first value counts");
    assert.equal(remoteSpanContext(extractEventContext({})), undefined);
    assert.equal(remoteSpanContext(extractEventContext({ traceparent: "nonsense" })), undefined);

    const out: RecordHeaders = { traceparent: "00-stale" };
    injectTraceContext(context, out);
    assert.equal(out["traceparent"], `00-${from.traceId}-${from.spanId}-01`, "replaced");
    const none: RecordHeaders = {};
    injectTraceContext(ROOT_CONTEXT, none);
    assert.deepEqual(none, {}, "no context, no header");
  });

  it("continues each event's trace and puts the whole micro-batch in the first one's", async () => {
    const [a, b] = [producer(), producer()];
    const records = [
      record(10, { id: "e10", x: 0.2 }, { traceparent: traceparent(a) }),
      record(11, { id: "e11", bad: true }, { traceparent: traceparent(b) }),
      record(12, { id: "e12", x: 0.4 }),
    ];
    const sidecar = new FakeSidecar();
    const { handler, delivered } = pipelineOf(sidecar);
    await handler.handle(new FakeBatch(records));

    const spans = tracing.spans();
    const processSpans = spans.filter((s) => s.name === "process events");
    const batch = processSpans.find((s) => s.attributes["messaging.batch.message_count"] === 3)!;
    assert.ok(batch, "a micro-batch span");
    assert.equal(batch.kind, SpanKind.CONSUMER);
    assert.equal(batch.spanContext().traceId, a.traceId, "in the first event's trace");
    assert.equal(parentOf(batch), a.spanId, "a child of the first event's producer span");
    assert.deepEqual(linkedTo(batch), [a.spanId, b.spanId].sort(), "linked to every traced event");
    assert.deepEqual(
      {
        system: batch.attributes["messaging.system"],
        operation: batch.attributes["messaging.operation.type"],
        destination: batch.attributes["messaging.destination.name"],
        partition: batch.attributes["messaging.destination.partition.id"],
        group: batch.attributes["messaging.consumer.group.name"],
        model: batch.attributes["sluice.model.name"],
        version: batch.attributes["sluice.model.version"],
        first: batch.attributes["sluice.batch.first_offset"],
        last: batch.attributes["sluice.batch.last_offset"],
      },
      {
        system: "kafka",
        operation: "process",
        destination: "events",
        partition: "2",
        group: "fraud-group",
        model: "fraud",
        version: "3",
        first: 10,
        last: 12,
      },
    );
    const batchId = batch.spanContext().spanId;
    assert.deepEqual(sidecar.activeSpans, [batchId], "ModelInfer runs inside the micro-batch span");

    const perEvent = processSpans.filter((s) => s !== batch);
    const byOffset = new Map(perEvent.map((s) => [s.attributes["messaging.kafka.offset"], s]));
    assert.equal(perEvent.length, 3);
    const [e10, e11, e12] = [byOffset.get(10)!, byOffset.get(11)!, byOffset.get(12)!];
    assert.equal(parentOf(e10), a.spanId);
    assert.equal(parentOf(e11), b.spanId);
    assert.equal(e11.spanContext().traceId, b.traceId, "the second event keeps its own trace");
    assert.equal(parentOf(e12), batchId, "an untraced event joins the micro-batch's trace");
    assert.deepEqual(linkedTo(e10), [batchId]);
    assert.deepEqual(linkedTo(e11), [batchId]);
    assert.deepEqual(linkedTo(e12), []);
    assert.equal(e10.attributes["messaging.kafka.message.key"], "user-10");
    assert.equal(e10.attributes["sluice.outcome"], "prediction");
    assert.equal(e10.attributes["sluice.model.version"], "3");
    assert.equal(e11.attributes["sluice.outcome"], "dead_letter");
    assert.equal(e11.attributes["error.type"], "feature_error");
    assert.equal(e11.status.code, SpanStatusCode.ERROR);

    const creates = spans.filter((s) => s.name.startsWith("create "));
    assert.deepEqual(creates.map((s) => s.name).sort(), [
      "create dlq",
      "create predictions",
      "create predictions",
    ]);
    const [{ records: out, activeSpan }] = delivered as [(typeof delivered)[number]];
    const send = spans.find((s) => s.name === "send")!;
    assert.ok(send, "one send span for the records of both topics");
    assert.equal(send.kind, SpanKind.CLIENT);
    assert.equal(parentOf(send), batchId);
    assert.equal(activeSpan, send.spanContext().spanId, "delivery runs inside the send span");
    assert.equal(send.attributes["messaging.batch.message_count"], 3);
    assert.deepEqual(linkedTo(send), creates.map((s) => s.spanContext().spanId).sort());
    for (const [i, output] of out.entries()) {
      const create = creates.find(
        (s) => header(output.headers, "traceparent")?.split("-")[2] === s.spanContext().spanId,
      );
      assert.ok(create, `output ${i} carries its create span's context`);
      assert.equal(create.kind, SpanKind.PRODUCER);
      assert.equal(create.attributes["messaging.destination.name"], output.topic);
      const event = perEvent.find((s) => s.spanContext().spanId === parentOf(create))!;
      assert.ok(event, `output ${i}'s create span is a child of its event's process span`);
      assert.equal(
        header(output.headers, "traceparent")?.split("-")[1],
        event.spanContext().traceId,
      );
    }
  });

  it("hangs the micro-batch on the first sampled event, not an unsampled one", async () => {
    const [unsampled, sampled] = [producer(), producer()];
    const { handler } = pipelineOf(new FakeSidecar());
    await handler.handle(
      new FakeBatch([
        record(0, { x: 0.1 }, { traceparent: traceparent(unsampled, false) }),
        record(1, { x: 0.1 }, { traceparent: traceparent(sampled) }),
      ]),
    );
    const spans = tracing.spans();
    const batch = spans.find(
      (s) => s.name === "process events" && s.attributes["messaging.batch.message_count"] === 2,
    )!;
    assert.equal(parentOf(batch), sampled.spanId);
    assert.ok(
      spans.every((s) => s.spanContext().traceId !== unsampled.traceId),
      "nothing recorded in the unsampled trace",
    );
  });

  it("marks every span of a micro-batch that failed as a whole, then retries it", async () => {
    const from = producer();
    const sidecar = new FakeSidecar();
    sidecar.failWith = new ConsumerError("inference_unavailable", "sidecar: UNAVAILABLE", {
      retryable: true,
    });
    const { handler, fatal } = pipelineOf(sidecar);
    const batch = new FakeBatch([record(0, { x: 0.1 }, { traceparent: traceparent(from) })]);
    await handler.handle(batch);
    handler.halt();
    assert.equal(batch.paused, 1, "the partition waits for a retry");
    assert.deepEqual(fatal, []);
    const spans = tracing.spans().filter((s) => s.name === "process events");
    assert.equal(spans.length, 2);
    for (const span of spans) {
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.attributes["error.type"], "inference_unavailable");
    }
    assert.equal(tracing.spans().filter((s) => s.name.startsWith("send")).length, 0);
  });
});
