import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InferenceError } from "@sluice/proto";
import { type InMemoryTracing, installInMemoryTracing } from "@sluice/testing";
import { serverAttributes, traceCall } from "./tracing.js";

const target = {
  service: "inference.GRPCInferenceService",
  method: "ModelInfer",
  model: "fraud",
  version: "3",
};

describe("serverAttributes", () => {
  test("host and port, IPv6 without brackets, schemes left whole", () => {
    assert.deepEqual(serverAttributes("sluice:8001"), {
      "server.address": "sluice",
      "server.port": 8001,
    });
    assert.deepEqual(serverAttributes("[::1]:8001"), {
      "server.address": "::1",
      "server.port": 8001,
    });
    assert.deepEqual(serverAttributes("unix:/run/sluice.sock"), {
      "server.address": "unix:/run/sluice.sock",
    });
  });
});

// Order matters: this suite runs before the next one registers an SDK in this process.
describe("traceCall", () => {
  test("with no SDK registered: a non-recording span and no metadata added", async () => {
    const metadata = new Metadata();
    const recording = await traceCall(target, {}, metadata, (span) =>
      Promise.resolve(span.isRecording()),
    );
    assert.equal(recording, false);
    assert.deepEqual(metadata.toJSON(), {});
  });
});

describe("traceCall with an SDK registered", () => {
  let otel: InMemoryTracing;
  before(() => {
    otel = installInMemoryTracing();
  });
  after(() => otel.uninstall());

  test("a CLIENT span named service/method with RPC and model attributes", async () => {
    const metadata = new Metadata();
    const result = await traceCall(target, serverAttributes("127.0.0.1:8001"), metadata, () =>
      Promise.resolve(42),
    );
    assert.equal(result, 42);
    const span = otel.spans().at(-1);
    assert.ok(span);
    assert.equal(span.name, "inference.GRPCInferenceService/ModelInfer");
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.deepEqual(span.attributes, {
      "rpc.system": "grpc",
      "rpc.service": "inference.GRPCInferenceService",
      "rpc.method": "ModelInfer",
      "server.address": "127.0.0.1",
      "server.port": 8001,
      "sluice.model.name": "fraud",
      "sluice.model.version": "3",
      "rpc.grpc.status_code": status.OK,
    });
    assert.ok(span.ended);
    assert.equal(
      metadata.get("traceparent")[0],
      `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
    );
  });

  test("a failure sets ERROR status, the gRPC code, records the exception and is rethrown", async () => {
    const failure = new InferenceError(status.NOT_FOUND, 'model "fraud" is not in the repository');
    await assert.rejects(
      traceCall(target, {}, new Metadata(), () => Promise.reject(failure)),
      (error) => error === failure,
    );
    const span = otel.spans().at(-1);
    assert.ok(span);
    assert.equal(span.attributes["rpc.grpc.status_code"], status.NOT_FOUND);
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: failure.message });
    assert.deepEqual(
      span.events.map((event) => [event.name, event.attributes?.["exception.message"]]),
      [["exception", failure.message]],
    );
    assert.ok(span.ended);
  });

  test("no model: no model attributes", async () => {
    await traceCall({ service: "grpc.health.v1.Health", method: "Check" }, {}, new Metadata(), () =>
      Promise.resolve(),
    );
    const span = otel.spans().at(-1);
    assert.equal(span?.name, "grpc.health.v1.Health/Check");
    assert.equal(span?.attributes["sluice.model.name"], undefined);
    assert.equal(span?.attributes["sluice.model.version"], undefined);
  });
});
