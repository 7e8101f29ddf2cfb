import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { InferenceError } from "@sluice/proto";
import { type RetryClock, type RetryPolicy, backoffDelayMs, withRetry } from "./retry.js";

const policy: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 350 };

/** A clock whose sleeps advance time at once and are recorded. */
function fakeClock(start = 1_000_000): RetryClock & { sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

function failing(code: status, successAfter = Infinity) {
  let attempts = 0;
  return {
    get attempts() {
      return attempts;
    },
    run: () => {
      attempts++;
      if (attempts > successAfter) return Promise.resolve("ok");
      return Promise.reject(new InferenceError(code, `attempt ${attempts} failed`));
    },
  };
}

describe("backoffDelayMs", () => {
  test("full jitter: [0, min(max, initial * 2^(retry-1)))", () => {
    assert.equal(
      backoffDelayMs(policy, 1, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(policy, 1, () => 0.999),
      99.9,
    );
    assert.equal(
      backoffDelayMs(policy, 2, () => 0.5),
      100,
    );
    assert.equal(
      backoffDelayMs(policy, 3, () => 0.5),
      175,
      "bound 400 capped at 350",
    );
    assert.equal(
      backoffDelayMs(policy, 30, () => 0.5),
      175,
      "stays capped, no overflow",
    );
  });

  test("random draws stay inside the bound", () => {
    for (let retry = 1; retry <= 6; retry++) {
      const bound = Math.min(350, 100 * 2 ** (retry - 1));
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelayMs(policy, retry);
        assert.ok(delay >= 0 && delay < bound, `retry ${retry}: ${delay} not in [0, ${bound})`);
      }
    }
  });
});

describe("withRetry", () => {
  for (const code of [status.UNAVAILABLE, status.RESOURCE_EXHAUSTED]) {
    test(`retries ${status[code]} then returns the success`, async () => {
      const clock = fakeClock();
      const call = failing(code, 2);
      const retries: number[] = [];
      const result = await withRetry(call.run, {
        policy,
        deadline: clock.now() + 10_000,
        clock,
        random: () => 0.5,
        onRetry: (_error, retry) => retries.push(retry),
      });
      assert.equal(result, "ok");
      assert.equal(call.attempts, 3);
      assert.deepEqual(clock.sleeps, [50, 100]);
      assert.deepEqual(retries, [1, 2]);
    });
  }

  for (const code of [
    status.INVALID_ARGUMENT,
    status.NOT_FOUND,
    status.DEADLINE_EXCEEDED,
    status.CANCELLED,
    status.INTERNAL,
    status.UNAUTHENTICATED,
    status.PERMISSION_DENIED,
    status.FAILED_PRECONDITION,
    status.UNIMPLEMENTED,
    status.UNKNOWN,
  ]) {
    test(`never retries ${status[code]}`, async () => {
      const clock = fakeClock();
      const call = failing(code);
      await assert.rejects(withRetry(call.run, { policy, deadline: clock.now() + 10_000, clock }), {
        status: code,
      });
      assert.equal(call.attempts, 1);
      assert.deepEqual(clock.sleeps, []);
    });
  }

  test("gives up after maxAttempts with the last attempt's error", async () => {
    const clock = fakeClock();
    const call = failing(status.UNAVAILABLE);
    await assert.rejects(withRetry(call.run, { policy, deadline: clock.now() + 60_000, clock }), {
      status: status.UNAVAILABLE,
      details: "attempt 4 failed",
    });
    assert.equal(call.attempts, 4);
    assert.equal(clock.sleeps.length, 3);
  });

  test("maxAttempts 1 means no retry", async () => {
    const clock = fakeClock();
    const call = failing(status.UNAVAILABLE);
    await assert.rejects(
      withRetry(call.run, {
        policy: { ...policy, maxAttempts: 1 },
        deadline: clock.now() + 60_000,
        clock,
      }),
      { status: status.UNAVAILABLE },
    );
    assert.equal(call.attempts, 1);
  });

  test("does not start a wait that would end past the deadline", async () => {
    const clock = fakeClock();
    const call = failing(status.UNAVAILABLE);
    // Waits of 50 then 100 (random 0.5): the second would end at 150 > deadline 120.
    await assert.rejects(
      withRetry(call.run, { policy, deadline: clock.now() + 120, clock, random: () => 0.5 }),
      { status: status.UNAVAILABLE, details: "attempt 2 failed" },
    );
    assert.equal(call.attempts, 2);
    assert.deepEqual(clock.sleeps, [50]);
  });

  test("an abort during the wait rejects with CANCELLED, keeping the abort reason", async () => {
    const controller = new AbortController();
    const call = failing(status.UNAVAILABLE);
    const reason = new Error("shutting down");
    const pending = withRetry(call.run, {
      policy: { maxAttempts: 5, initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
      deadline: Date.now() + 120_000,
      signal: controller.signal,
      random: () => 0.99,
    });
    setImmediate(() => controller.abort(reason));
    const started = Date.now();
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof InferenceError);
      assert.equal(error.status, status.CANCELLED);
      assert.match(error.message, /aborted while waiting to retry after: attempt 1 failed/);
      assert.equal(error.cause, reason);
      return true;
    });
    assert.ok(Date.now() - started < 5_000, "did not wait out the backoff");
    assert.equal(call.attempts, 1);
  });

  test("errors that are not InferenceErrors are converted, never retried as UNKNOWN", async () => {
    const clock = fakeClock();
    let attempts = 0;
    await assert.rejects(
      withRetry(
        () => {
          attempts++;
          return Promise.reject(new TypeError("boom"));
        },
        { policy, deadline: clock.now() + 10_000, clock },
      ),
      { name: "InferenceError", status: status.UNKNOWN, details: "boom" },
    );
    assert.equal(attempts, 1);
  });
});
