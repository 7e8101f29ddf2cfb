/**
 * One event's trace, end to end, through a real Jaeger v2: `sluice produce` (the load generator),
 * `sluice consume` and `sluice serve` run as processes with the standard OTEL_* variables pointed at
 * Jaeger (OTLP over gRPC, HTTP/protobuf and HTTP/JSON), and the test reads the traces back through
 * Jaeger's query API and checks their shape: parents, links, kinds and the attributes the
 * messaging and RPC conventions give them. docs/tracing.md draws the same shape.
 *
 * Jaeger is built from source by scripts/jaeger.sh (a cold build takes minutes, so CI runs it as its
 * own step). Without the binary this file is skipped, unless SLUICE_E2E_TRACING is set: then a
 * missing Jaeger fails it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { collectTopics, type ReadRecord } from "@sluice/testing";
import {
  type CliProcess,
  configFolder,
  type ConfigFolder,
  EXAMPLE_MODELS,
  type FixtureSettings,
  fraudDocument,
  type Jaeger,
  JAEGER_BIN,
  jaegerBuilt,
  KIND,
  makeRepository,
  runCli,
  STACK_TIMEOUT_MS,
  startJaeger,
  startTestKafka,
  stopCli,
  type StoredSpan,
  type TestKafka,
  type TestRepository,
  waitFor,
} from "@sluice/testing";

const EVENTS = 40;
/** A cold `node --import tsx` of the CLI, loading the model, joining the group. */
const START_TIMEOUT_MS = 60_000;
/** Spans are exported every 100 ms (OTEL_BSP_SCHEDULE_DELAY below) and Jaeger batches for 200 ms. */
const TRACE_TIMEOUT_MS = 30_000;

const built = await jaegerBuilt();
const required = Boolean(process.env["SLUICE_E2E_TRACING"]);
const skip =
  !built && !required
    ? `no Jaeger at ${JAEGER_BIN}: build it with scripts/jaeger.sh (set SLUICE_E2E_TRACING=1 to fail instead of skipping)`
    : false;

/** The OTEL_* variables of one process, exporting to `endpoint` over `protocol`. */
function otel(endpoint: string, protocol: "grpc" | "http/protobuf" | "http/json") {
  return {
    OTEL_SDK_DISABLED: "",
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_TRACES_SAMPLER: "parentbased_always_on",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_SERVICE_NAME: "",
  };
}

function traceparentOf(record: ReadRecord): { traceId: string; spanId: string } {
  const value = record.headers["traceparent"];
  const text = Array.isArray(value) ? value[0]?.toString() : value?.toString();
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(text ?? "");
  assert.ok(match, `a sampled traceparent on the prediction at offset ${record.offset}: ${text}`);
  return { traceId: match[1]!, spanId: match[2]! };
}

describe("tracing end to end, through Jaeger", { skip, timeout: 5 * 60_000 }, () => {
  let jaeger: Jaeger | undefined;
  let kafka: TestKafka | undefined;
  let redis: Redis | undefined;
  let repository: TestRepository | undefined;
  let files: ConfigFolder | undefined;
  const processes: CliProcess[] = [];
  const keyPrefix = `sluice-test:${randomUUID()}:`;
  let runId: string | undefined;

  before(
    async () => {
      assert.ok(built, `no Jaeger at ${JAEGER_BIN}: build it with scripts/jaeger.sh`);
      jaeger = await startJaeger();
      kafka = await startTestKafka();
      redis = new Redis(kafka.redisUrl);
      repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
      files = await configFolder();
    },
    { timeout: STACK_TIMEOUT_MS },
  );

  after(async () => {
    await Promise.all(processes.splice(0).map(stopCli));
    if (redis !== undefined) {
      const patterns = [`${keyPrefix}*`, ...(runId === undefined ? [] : [`user:u-${runId}-*`])];
      for (const pattern of patterns) {
        const keys = await redis.keys(pattern);
        if (keys.length > 0) await redis.unlink(...keys);
      }
      redis.disconnect();
    }
    await files?.remove();
    await repository?.remove();
    await kafka?.close();
    await jaeger?.stop();
  });

  function cli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
    const started = runCli(args, env);
    processes.push(started);
    return started;
  }

  it("holds producer, consumer, features, client, sidecar and output spans in one trace", async () => {
    const j = jaeger!;
    // One partition: one ModelInfer in flight at a time, so each sidecar batch serves one request
    // and its span is in that request's trace.
    const topics = await kafka!.topics(["in", "out", "dlq"], 1);

    const serve = cli(
      [
        "serve",
        "--model-repository",
        repository!.dir,
        "--grpc-port",
        "0",
        "--metrics-port",
        "-1",
        "--log-level",
        "info",
      ],
      otel(j.otlpGrpc, "grpc"),
    );
    const grpcPort = await waitFor(
      "the sidecar's ready line",
      () => {
        if (serve.child.exitCode !== null) {
          throw new Error(`sluice serve exited:\n${serve.lines.join("\n")}`);
        }
        // The sidecar logs JSON lines on stderr.
        const ready = /"grpcPort":(\d+)[^\n]*"sidecar ready"/.exec(serve.lines.join("\n"));
        return ready === null ? undefined : Number(ready[1]);
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 },
    );

    const settings: FixtureSettings = {
      topics: { input: topics.in, output: topics.out, dlq: topics.dlq },
      brokers: kafka!.brokers,
      redisUrl: kafka!.redisUrl,
      sidecarPort: grpcPort,
      keyPrefix,
      groupId: `sluice-test-${randomUUID()}`,
      maxEvents: 64,
      // Long enough that the events of several of the load generator's 20 ms ticks make one
      // micro-batch: the shape under test is a micro-batch of many events.
      lingerMs: 300,
    };
    const file = await files!.write(`${randomUUID()}.yaml`, await fraudDocument(settings));
    const consume = cli(["consume", "--config", file], otel(j.otlpHttp, "http/protobuf"));
    await consume.consuming(START_TIMEOUT_MS);

    const produce = cli(
      ["produce", "--config", file, "--rate", "500", "--count", String(EVENTS), "--users", "20"],
      otel(j.otlpHttp, "http/json"),
    );
    assert.equal((await produce.exited).code, 0, produce.lines.join("\n"));
    runId = /^run (\S+):/m.exec(produce.stdout())?.[1];

    const read = await collectTopics({
      brokers: kafka!.brokers,
      topics: [topics.out],
      timeoutMs: TRACE_TIMEOUT_MS,
      until: (records) => records.length >= EVENTS,
    });
    assert.equal(read.records.length, EVENTS, "a prediction per event");
    const predictions = read.records.map((record) => ({ record, ...traceparentOf(record) }));
    assert.equal(
      new Set(predictions.map((p) => p.traceId)).size,
      EVENTS,
      "each event has its own trace, and its prediction carries it on",
    );

    // The trace of an event that opened a micro-batch of several: it holds the whole micro-batch.
    const isBatch = (s: StoredSpan) =>
      s.service === "sluice-consumer" &&
      s.name === `process ${topics.in}` &&
      s.attributes["messaging.batch.message_count"] !== undefined;
    const complete = (spans: StoredSpan[]) =>
      ["sluice.batch.execute", "EVALSHA", `send ${topics.out}`].every((name) =>
        spans.some((s) => s.name === name),
      );
    const { prediction, spans } = await waitFor(
      "a complete trace of an event that opened a micro-batch",
      async () => {
        for (const prediction of predictions) {
          const spans = await j.trace(prediction.traceId);
          const batch = spans.find((s) => s.kind === KIND.consumer && isBatch(s));
          if (
            batch !== undefined &&
            Number(batch.attributes["messaging.batch.message_count"]) > 1
          ) {
            return complete(spans) ? { prediction, spans } : undefined;
          }
        }
        return undefined;
      },
      { timeoutMs: TRACE_TIMEOUT_MS, intervalMs: 500 },
    );

    const shape = spans
      .map((s) => `${s.service} ${s.name} ${s.spanId} parent=${s.parentSpanId ?? "-"}`)
      .join("\n");
    const one = (what: string, test: (s: StoredSpan) => boolean): StoredSpan => {
      const found = spans.filter(test);
      assert.equal(found.length, 1, `one ${what} in the trace:\n${shape}`);
      return found[0]!;
    };

    // The load generator's send span is the trace's root.
    const send = one("root span", (s) => s.parentSpanId === undefined);
    assert.deepEqual(
      [send.service, send.name, send.kind, send.attributes["messaging.system"]],
      ["sluice-loadgen", `send ${topics.in}`, KIND.producer, "kafka"],
    );
    assert.equal(send.attributes["messaging.destination.name"], topics.in);

    // The consumer: the micro-batch span, and the event's own process span, both under the send.
    const batch = one("micro-batch process span", isBatch);
    const size = Number(batch.attributes["messaging.batch.message_count"]);
    assert.deepEqual(
      [batch.name, batch.kind, batch.parentSpanId],
      [`process ${topics.in}`, KIND.consumer, send.spanId],
    );
    assert.deepEqual(
      {
        partition: batch.attributes["messaging.destination.partition.id"],
        group: batch.attributes["messaging.consumer.group.name"],
        model: batch.attributes["sluice.model.name"],
      },
      { partition: "0", group: settings.groupId, model: "fraud" },
    );
    assert.equal(batch.links.length, size, "linked to every event of the micro-batch");
    assert.ok(batch.links.some((link) => link.spanId === send.spanId));
    assert.equal(
      new Set(batch.links.map((link) => link.traceId)).size,
      size,
      "one trace per event",
    );

    const event = one(
      "per-event process span",
      (s) => s.name === `process ${topics.in}` && !isBatch(s),
    );
    assert.deepEqual(
      [event.service, event.kind, event.parentSpanId, event.links],
      [
        "sluice-consumer",
        KIND.consumer,
        send.spanId,
        [{ traceId: batch.traceId, spanId: batch.spanId }],
      ],
    );
    assert.equal(event.attributes["messaging.destination.partition.id"], "0");
    assert.equal(
      event.attributes["messaging.kafka.offset"],
      Number(prediction.record.headers["sluice-source-offset"]?.toString()),
    );
    assert.equal(event.attributes["sluice.outcome"], "prediction");

    // Features and their Redis round trip.
    const features = one("features span", (s) => s.name === "sluice.features");
    assert.equal(features.parentSpanId, batch.spanId);
    // The round trip that writes the micro-batch's state (an MGET before it only on cache misses).
    const redisCall = one("Redis write span", (s) => s.name === "EVALSHA");
    assert.deepEqual(
      [redisCall.parentSpanId, redisCall.kind, redisCall.attributes["db.system.name"]],
      [features.spanId, KIND.client, "redis"],
    );

    // The ModelInfer call, and the sidecar's side of it.
    const method = "inference.GRPCInferenceService/ModelInfer";
    const client = one(
      "ModelInfer client span",
      (s) => s.name === method && s.kind === KIND.client,
    );
    assert.deepEqual(
      [client.service, client.parentSpanId, client.attributes["rpc.system"]],
      ["sluice-consumer", batch.spanId, "grpc"],
    );
    assert.equal(client.attributes["sluice.model.name"], "fraud");
    const server = one(
      "ModelInfer server span",
      (s) => s.name === method && s.kind === KIND.server,
    );
    assert.deepEqual(
      [server.service, server.parentSpanId, server.attributes["rpc.method"]],
      ["sluice-server", client.spanId, "ModelInfer"],
    );
    const version = server.attributes["sluice.model.version"];
    assert.equal(version, "1", "the stable label resolves to version 1");
    assert.equal(event.attributes["sluice.model.version"], version);
    assert.equal(batch.attributes["sluice.model.version"], version);
    const queue = one("queue span", (s) => s.name === "sluice.queue");
    const execute = one("execute span", (s) => s.name === "sluice.execute");
    const executed = one("sidecar batch span", (s) => s.name === "sluice.batch.execute");
    for (const span of [queue, execute, executed]) {
      assert.equal(span.service, "sluice-server");
      assert.equal(span.parentSpanId, server.spanId, `${span.name} under the server span`);
    }
    assert.deepEqual(
      execute.links.map((link) => link.spanId),
      [executed.spanId],
    );
    assert.deepEqual(
      executed.links.map((link) => link.spanId),
      [server.spanId],
    );
    assert.equal(executed.attributes["sluice.batch.size"], size, "the micro-batch's rows");

    // The prediction: created under the event's span, sent under the micro-batch's.
    const create = one("create span", (s) => s.name === `create ${topics.out}`);
    assert.deepEqual(
      [create.service, create.kind, create.parentSpanId],
      ["sluice-consumer", KIND.producer, event.spanId],
    );
    assert.equal(prediction.spanId, create.spanId, "the prediction carries its create span");
    const output = one("output send span", (s) => s.name === `send ${topics.out}`);
    assert.deepEqual([output.kind, output.parentSpanId], [KIND.client, batch.spanId]);
    assert.equal(output.attributes["messaging.batch.message_count"], size);
    assert.ok(output.links.some((link) => link.spanId === create.spanId));

    // Another event of the micro-batch: its own trace, reaching the micro-batch through a link.
    const other = batch.links.find((link) => link.traceId !== batch.traceId)!;
    const otherSpans = await waitFor(
      "the trace of another event of the micro-batch",
      async () => {
        const found = await j.trace(other.traceId);
        return found.some((s) => s.name === `create ${topics.out}`) ? found : undefined;
      },
      { timeoutMs: TRACE_TIMEOUT_MS, intervalMs: 200 },
    );
    const otherEvent = otherSpans.find((s) => s.name === `process ${topics.in}`)!;
    assert.ok(otherEvent, "the other event's process span");
    assert.equal(otherEvent.parentSpanId, other.spanId, "a child of its own send span");
    assert.deepEqual(otherEvent.links, [{ traceId: batch.traceId, spanId: batch.spanId }]);
    assert.ok(!otherSpans.some(isBatch), "the micro-batch span lives in the first event's trace");
    const otherPrediction = predictions.find((p) => p.traceId === other.traceId)!;
    const otherCreate = otherSpans.find((s) => s.name === `create ${topics.out}`)!;
    assert.equal(otherPrediction.spanId, otherCreate.spanId);
    assert.equal(otherCreate.parentSpanId, otherEvent.spanId);
  });
});
