/**
 * OpenTelemetry spans of the sidecar with a real SDK (in memory): the caller's W3C trace context
 * arrives in gRPC metadata, each ModelInfer is a SERVER span in the caller's trace with children
 * for the queue wait and the execution, and the batch that ran several requests is one span linked
 * to every request span it served.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { ProtocolClient } from "@sluice/testing";
import {
  FIXTURE_MODELS,
  type InMemoryTracing,
  installInMemoryTracing,
  makeRepository,
  raw,
  serveRepository,
  type ServedRepository,
  type TestRepository,
  waitFor,
} from "@sluice/testing";

const REQUESTS = 4;

let tracing: InMemoryTracing;
let repository: TestRepository;
let served: ServedRepository;
let client: ProtocolClient;

before(async () => {
  tracing = installInMemoryTracing();
  repository = await makeRepository({ traced: join(FIXTURE_MODELS, "identity-fp32") });
  // The batch fills at REQUESTS rows, so concurrent requests run as one execution.
  await writeFile(
    join(repository.dir, "traced", "config.yaml"),
    `max_batch_size: ${REQUESTS}\ndynamic_batching: { max_queue_delay_microseconds: 10000000 }\n`,
  );
  served = await serveRepository(repository);
  ({ client } = served);
});

after(async () => {
  await served.close();
  await tracing.uninstall();
});

function request(row: number) {
  return {
    modelName: "traced",
    inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 4n] }],
    rawInputContents: [raw(new Float32Array([row, row, row, row]))],
  };
}

describe("tracing", () => {
  it("continues each caller's trace and links the batch to every request it served", async () => {
    const callers = Array.from({ length: REQUESTS }, () => ({
      traceId: randomBytes(16).toString("hex"),
      spanId: randomBytes(8).toString("hex"),
    }));
    await Promise.all(
      callers.map((caller, i) => {
        const metadata = new Metadata();
        metadata.set("traceparent", `00-${caller.traceId}-${caller.spanId}-01`);
        return client.infer(request(i), { metadata });
      }),
    );
    const spans = await waitFor("the batch span", () => {
      const finished = tracing.spans();
      return finished.some((s) => s.name === "sluice.batch.execute") ? finished : undefined;
    });

    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const children = (parent: ReadableSpan) =>
      spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
    const serverSpans: ReadableSpan[] = [];
    for (const caller of callers) {
      const server = spans.find(
        (s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === caller.traceId,
      );
      assert.ok(server, `a server span in trace ${caller.traceId}`);
      serverSpans.push(server);
      assert.equal(server.name, "inference.GRPCInferenceService/ModelInfer");
      assert.equal(server.parentSpanContext?.spanId, caller.spanId, "child of the caller's span");
      assert.equal(server.attributes["rpc.system"], "grpc");
      assert.equal(server.attributes["rpc.method"], "ModelInfer");
      assert.equal(server.attributes["sluice.model.name"], "traced");
      assert.equal(server.attributes["sluice.model.version"], "1");
      // The batch span is also a child of one of them: checked below.
      const names = children(server)
        .map((s) => s.name)
        .filter((name) => name !== "sluice.batch.execute")
        .sort();
      assert.deepEqual(names, ["sluice.execute", "sluice.queue"]);
      const queue = children(server).find((s) => s.name === "sluice.queue")!;
      const execute = children(server).find((s) => s.name === "sluice.execute")!;
      assert.ok(
        hrMs(queue.endTime) <= hrMs(execute.startTime) + 0.001,
        "the queue wait ends where the execution starts",
      );
    }

    const batches = spans.filter((s) => s.name === "sluice.batch.execute");
    assert.equal(batches.length, 1, "one execution ran all the requests");
    const batch = batches[0]!;
    assert.equal(batch.attributes["sluice.batch.size"], REQUESTS);
    assert.ok(
      serverSpans.some((s) => s.spanContext().spanId === batch.parentSpanContext?.spanId),
      "a child of one request it served, so that caller's trace holds it",
    );
    assert.equal(batch.attributes["sluice.batch.requests"], REQUESTS);
    assert.deepEqual(
      batch.links.map((link) => link.context.spanId).sort(),
      serverSpans.map((s) => s.spanContext().spanId).sort(),
      "linked to every request span it served",
    );
    for (const server of serverSpans) {
      const execute = children(server).find((s) => s.name === "sluice.execute")!;
      assert.equal(execute.links[0]?.context.spanId, batch.spanContext().spanId);
    }
    assert.ok(byId.size > 0);
  });

  it("starts a new trace for a request without trace context, and marks failures", async () => {
    tracing.reset();
    const { status } = await import("@grpc/grpc-js");
    await assert.rejects(
      client.infer({ ...request(0), modelName: "missing" }),
      (error: { code: number }) => {
        assert.equal(error.code, status.NOT_FOUND);
        return true;
      },
    );
    const [span] = await waitFor("the failed request's span", () => {
      const finished = tracing.spans().filter((s) => s.kind === SpanKind.SERVER);
      return finished.length > 0 ? finished : undefined;
    });
    assert.equal(span!.parentSpanContext, undefined, "a root span");
    assert.equal(span!.status.code, 2 /* ERROR */);
    assert.equal(span!.attributes["rpc.grpc.status_code"], status.NOT_FOUND);
    assert.match(span!.status.message ?? "", /model "missing" is not ready/);
  });
});

function hrMs([seconds, nanos]: [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
