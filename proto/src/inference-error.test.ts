import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { SluiceError } from "@sluice/kit";
import { InferenceError, isRetryableStatus, statusCode } from "./inference-error.js";

describe("InferenceError", () => {
  test("the message leads with the status name; details hold the text alone", () => {
    const error = new InferenceError(status.NOT_FOUND, 'model "x" is not in the repository');
    assert.equal(error.message, '[NOT_FOUND] model "x" is not in the repository');
    assert.equal(error.details, 'model "x" is not in the repository');
    assert.equal(error.name, "InferenceError");
    assert.equal(error.retryable, false);
  });

  test("is a SluiceError whose code is the status name in lowercase", () => {
    const error = new InferenceError(status.RESOURCE_EXHAUSTED, "queue full");
    assert.ok(error instanceof SluiceError);
    assert.equal(error.status, status.RESOURCE_EXHAUSTED);
    assert.equal(error.code, "resource_exhausted");
    assert.deepEqual(error.toJSON(), {
      code: "resource_exhausted",
      message: "[RESOURCE_EXHAUSTED] queue full",
      retryable: true,
    });
    assert.equal(statusCode(status.INVALID_ARGUMENT), "invalid_argument");
    assert.equal(statusCode(99 as status), "unknown");
  });

  test("metadata is what the server sent, or empty", () => {
    assert.equal(new InferenceError(status.INTERNAL, "x").metadata.getMap()["a"], undefined);
    const metadata = new Metadata();
    metadata.set("a", "1");
    assert.equal(new InferenceError(status.INTERNAL, "x", { metadata }).metadata, metadata);
  });

  test("from() keeps a grpc-js status error's status, details, metadata and the error as cause", () => {
    const metadata = new Metadata();
    metadata.set("retry-after", "1");
    const grpcError = Object.assign(new Error("14 UNAVAILABLE: connection refused"), {
      code: status.UNAVAILABLE,
      details: "connection refused",
      metadata,
    });
    const error = InferenceError.from(grpcError);
    assert.equal(error.status, status.UNAVAILABLE);
    assert.equal(error.code, "unavailable");
    assert.equal(error.details, "connection refused");
    assert.equal(error.metadata, metadata);
    assert.equal(error.cause, grpcError);
    assert.equal(error.retryable, true);
  });

  test("from() returns an InferenceError as it is, maps aborts to CANCELLED, the rest to the fallback", () => {
    const original = new InferenceError(status.INTERNAL, "x");
    assert.equal(InferenceError.from(original), original);
    assert.equal(
      InferenceError.from(new DOMException("stop", "AbortError")).status,
      status.CANCELLED,
    );
    const plain = InferenceError.from("nope");
    assert.equal(plain.status, status.UNKNOWN);
    assert.equal(plain.details, "nope");
    assert.equal(InferenceError.from(new Error("x"), status.INTERNAL).status, status.INTERNAL);
  });

  test("only UNAVAILABLE and RESOURCE_EXHAUSTED are retryable", () => {
    const retryable = Object.values(status)
      .filter((code): code is status => typeof code === "number")
      .filter(isRetryableStatus);
    assert.deepEqual(retryable.sort(), [status.RESOURCE_EXHAUSTED, status.UNAVAILABLE].sort());
  });
});
