import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { InferenceClientError, isRetryableCode } from "./client-error.js";

describe("InferenceClientError", () => {
  test("the message leads with the code name; details hold the text alone", () => {
    const error = new InferenceClientError(status.NOT_FOUND, 'model "x" is not in the repository');
    assert.equal(error.message, '[NOT_FOUND] model "x" is not in the repository');
    assert.equal(error.details, 'model "x" is not in the repository');
    assert.equal(error.name, "InferenceClientError");
    assert.equal(error.retryable, false);
  });

  test("from() keeps a grpc-js status error's code, details, metadata and the error as cause", () => {
    const metadata = new Metadata();
    metadata.set("retry-after", "1");
    const grpcError = Object.assign(new Error("14 UNAVAILABLE: connection refused"), {
      code: status.UNAVAILABLE,
      details: "connection refused",
      metadata,
    });
    const error = InferenceClientError.from(grpcError);
    assert.equal(error.code, status.UNAVAILABLE);
    assert.equal(error.details, "connection refused");
    assert.equal(error.metadata, metadata);
    assert.equal(error.cause, grpcError);
    assert.equal(error.retryable, true);
  });

  test("from() returns an InferenceClientError as it is, maps aborts to CANCELLED, the rest to the fallback", () => {
    const original = new InferenceClientError(status.INTERNAL, "x");
    assert.equal(InferenceClientError.from(original), original);
    assert.equal(
      InferenceClientError.from(new DOMException("stop", "AbortError")).code,
      status.CANCELLED,
    );
    const plain = InferenceClientError.from("nope");
    assert.equal(plain.code, status.UNKNOWN);
    assert.equal(plain.details, "nope");
    assert.equal(InferenceClientError.from(new Error("x"), status.INTERNAL).code, status.INTERNAL);
  });

  test("only UNAVAILABLE and RESOURCE_EXHAUSTED are retryable", () => {
    const retryable = Object.values(status)
      .filter((code): code is status => typeof code === "number")
      .filter(isRetryableCode);
    assert.deepEqual(retryable.sort(), [status.RESOURCE_EXHAUSTED, status.UNAVAILABLE].sort());
  });
});
