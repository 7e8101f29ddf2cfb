import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_INITIAL_BACKOFF_MS,
  DEFAULT_LOAD_DEADLINE_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
  type InferenceClientOptions,
  resolveClientOptions,
} from "./client-options.js";

function refuses(options: InferenceClientOptions, message: RegExp): void {
  assert.throws(() => resolveClientOptions(options), { status: status.INVALID_ARGUMENT, message });
}

describe("resolveClientOptions", () => {
  test("fills every default", () => {
    const resolved = resolveClientOptions({ address: "127.0.0.1:8001" });
    assert.equal(resolved.address, "127.0.0.1:8001");
    assert.equal(resolved.tls, undefined);
    assert.equal(resolved.token, undefined);
    assert.equal(resolved.deadlineMs, DEFAULT_DEADLINE_MS);
    assert.equal(resolved.loadDeadlineMs, DEFAULT_LOAD_DEADLINE_MS);
    assert.deepEqual(resolved.retry, {
      maxAttempts: DEFAULT_MAX_ATTEMPTS,
      initialBackoffMs: DEFAULT_INITIAL_BACKOFF_MS,
      maxBackoffMs: DEFAULT_MAX_BACKOFF_MS,
    });
    assert.equal(
      resolved.channelOptions["grpc.max_receive_message_length"],
      DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    );
  });

  test("caller's channel options win over the defaults; serverName sets the TLS target name", () => {
    const resolved = resolveClientOptions({
      address: "sluice.internal:443",
      tls: { serverName: "sluice.example.com" },
      channelOptions: { "grpc.max_receive_message_length": 1024 },
    });
    assert.equal(resolved.channelOptions["grpc.max_receive_message_length"], 1024);
    assert.equal(resolved.channelOptions["grpc.ssl_target_name_override"], "sluice.example.com");
  });

  test("accepts host:port, [ipv6]:port and gRPC URIs", () => {
    for (const address of [
      "localhost:8001",
      "10.0.0.1:1",
      "[::1]:8001",
      "unix:/run/sluice.sock",
      "dns:///sluice:8001",
    ]) {
      assert.equal(resolveClientOptions({ address }).address, address);
    }
  });

  test("refuses an address without a valid port", () => {
    for (const address of [
      "",
      "localhost",
      "localhost:0",
      "localhost:70000",
      "http://localhost:8001",
      "a b:1",
    ]) {
      refuses({ address }, /address: expected "host:port" such as "127\.0\.0\.1:8001", got/);
    }
  });

  test("a larger initial backoff raises the default cap with it", () => {
    const { retry } = resolveClientOptions({ address: "h:1", retry: { initialBackoffMs: 5_000 } });
    assert.equal(retry.maxBackoffMs, 5_000);
  });

  test("refuses bad retry, deadline and TLS settings, naming the option", () => {
    refuses(
      { address: "h:1", retry: { maxAttempts: 0 } },
      /retry\.maxAttempts: expected an integer >= 1, got 0/,
    );
    refuses({ address: "h:1", retry: { maxAttempts: 1.5 } }, /retry\.maxAttempts/);
    refuses(
      { address: "h:1", retry: { initialBackoffMs: -1 } },
      /retry\.initialBackoffMs: expected a non-negative number/,
    );
    refuses(
      { address: "h:1", retry: { initialBackoffMs: 100, maxBackoffMs: 10 } },
      /retry\.maxBackoffMs: expected at least retry\.initialBackoffMs \(100\), got 10/,
    );
    refuses(
      { address: "h:1", deadlineMs: 0 },
      /deadlineMs: expected a positive number of milliseconds, got 0/,
    );
    refuses({ address: "h:1", deadlineMs: Number.NaN }, /deadlineMs: expected a positive number/);
    refuses(
      { address: "h:1", tls: { cert: "PEM" } },
      /tls\.key: required with tls\.cert for mutual TLS/,
    );
    refuses(
      { address: "h:1", tls: { key: "PEM" } },
      /tls\.cert: required with tls\.key for mutual TLS/,
    );
    refuses(
      { address: "h:1", tls: { ca: "" } },
      /tls\.ca: expected PEM file contents, got an empty string/,
    );
    refuses(
      { address: "h:1", tls: { serverName: "10.0.0.7" } },
      /tls\.serverName: expected a host name, got the IP address "10\.0\.0\.7"/,
    );
  });

  test("refuses a token that cannot be a header value, without echoing it", () => {
    assert.throws(
      () => resolveClientOptions({ address: "h:1", token: "secret\nvalue" }),
      (error: Error) => {
        assert.match(
          error.message,
          /token: expected printable ASCII without spaces, got 12 characters/,
        );
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
    refuses({ address: "h:1", token: "" }, /token: .*got an empty string/);
  });
});
