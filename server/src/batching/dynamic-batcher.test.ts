import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { setImmediate as tick } from "node:timers/promises";
import { BatcherError } from "./batcher-error.js";
import { DynamicBatcher, resolveBatcherOptions } from "./dynamic-batcher.js";
import type { BatcherOptions, BatchExecutor } from "./dynamic-batcher.js";

// Timing assertions use generous bounds: the suite runs on a noisy shared 2-core machine. Ordering
// is asserted through gates (an executor that waits until the test opens it), not through sleeps.

const LABEL = 'model "test" version 1';
const LONG_DELAY_MICROS = 5_000_000; // long enough that only fullness, preferred sizes or drain dispatch

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Attaches handlers at once, so a rejection the test inspects later is never "unhandled". */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function valuesOf<T>(results: Settled<T>[]): (T | undefined)[] {
  return results.map((result) => (result.ok ? result.value : undefined));
}

function errorOf<T>(result: Settled<T>): unknown {
  assert.equal(result.ok, false, "expected a rejection");
  return result.ok ? undefined : result.error;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Call {
  payloads: string[];
  rows: number;
  startedAt: number;
}

/** A batcher whose executor records each batch, waits for `wait(payloads)` and echoes payloads. */
function harness(
  options: Partial<BatcherOptions> & { maxBatchSize: number },
  wait?: (payloads: string[]) => Promise<void> | undefined,
) {
  const calls: Call[] = [];
  let active = 0;
  let maxActive = 0;
  const execute: BatchExecutor<string, string> = async (items, batch) => {
    const payloads = items.map((item) => item.payload);
    calls.push({ payloads, rows: batch.rows, startedAt: performance.now() });
    maxActive = Math.max(maxActive, ++active);
    try {
      await wait?.(payloads);
    } finally {
      active--;
    }
    return payloads.map((payload) => `done:${payload}`);
  };
  const batcher = new DynamicBatcher(resolveBatcherOptions({ label: LABEL, ...options }), execute);
  const submit = (
    payload: string,
    extra: { rows?: number; priority?: number; deadline?: number; signal?: AbortSignal } = {},
  ) => settle(batcher.submit({ payload, rows: 1, ...extra }));
  const batches = (): string[][] => calls.map((call) => call.payloads);
  const rowsPerBatch = (): number[] => calls.map((call) => call.rows);
  return { batcher, calls, submit, batches, rowsPerBatch, maxActive: () => maxActive };
}

void describe("resolveBatcherOptions", () => {
  void it("fills every default", () => {
    assert.deepEqual(resolveBatcherOptions({ maxBatchSize: 8 }), {
      maxBatchSize: 8,
      maxQueueDelayMicros: 0,
      preferredBatchSizes: [],
      maxQueueSize: 0,
      instanceCount: 1,
      priorityLevels: 0,
      defaultPriorityLevel: 0,
      label: "model",
    });
    assert.equal(
      resolveBatcherOptions({ maxBatchSize: 8, priorityLevels: 3 }).defaultPriorityLevel,
      3,
    );
    assert.deepEqual(
      resolveBatcherOptions({ maxBatchSize: 8, preferredBatchSizes: [8, 4, 8] })
        .preferredBatchSizes,
      [4, 8],
    );
  });

  void it("rejects bad values with a message naming the field", () => {
    const cases: [Partial<BatcherOptions> & { maxBatchSize: number }, RegExp][] = [
      [{ maxBatchSize: -1 }, /maxBatchSize .*expected an integer ≥ 0, got -1/],
      [
        { maxBatchSize: 8, preferredBatchSizes: [4, 16] },
        /preferredBatchSizes\[1\] .*from 1 to 8, got 16/,
      ],
      [
        { maxBatchSize: 0, preferredBatchSizes: [1] },
        /preferredBatchSizes .*expected none when maxBatchSize is 0/,
      ],
      [{ maxBatchSize: 8, maxQueueDelayMicros: 1.5 }, /maxQueueDelayMicros .*got 1.5/],
      [{ maxBatchSize: 8, instanceCount: 0 }, /instanceCount .*expected an integer ≥ 1, got 0/],
      [
        { maxBatchSize: 8, priorityLevels: 3, defaultPriorityLevel: 4 },
        /defaultPriorityLevel .*from 1 to 3, got 4/,
      ],
      [{ maxBatchSize: 8, maxQueueSize: -5 }, /maxQueueSize .*got -5/],
    ];
    for (const [options, message] of cases)
      assert.throws(() => resolveBatcherOptions(options), message);
  });
});

void describe("DynamicBatcher", () => {
  void it("coalesces concurrent submits into one execution, rows concatenated in order", async () => {
    // Filling maxBatchSize dispatches without waiting for the delay: no wall-clock race on a busy machine.
    const { batcher, batches, rowsPerBatch, submit } = harness({
      maxBatchSize: 6,
      maxQueueDelayMicros: LONG_DELAY_MICROS,
    });
    const results = await Promise.all([
      submit("a", { rows: 1 }),
      submit("b", { rows: 2 }),
      submit("c", { rows: 3 }),
    ]);
    assert.deepEqual(valuesOf(results), ["done:a", "done:b", "done:c"]);
    assert.deepEqual(batches(), [["a", "b", "c"]]);
    assert.deepEqual(rowsPerBatch(), [6]);
    await batcher.drain();
  });

  void it("never exceeds maxBatchSize, and an item that does not fit starts the next batch", async () => {
    const { batcher, batches, rowsPerBatch, submit } = harness({
      maxBatchSize: 4,
      maxQueueDelayMicros: LONG_DELAY_MICROS,
    });
    const results = [
      submit("a", { rows: 2 }),
      submit("b", { rows: 1 }),
      submit("c", { rows: 2 }),
      submit("d", { rows: 1 }),
    ];
    await tick();
    // [a, b] is closed by c (3 + 2 > 4) and leaves at once; d would fit beside a and b but must not jump c.
    assert.deepEqual(batches(), [["a", "b"]]);
    assert.equal(batcher.pendingRows, 3);
    await batcher.drain();
    await Promise.all(results);
    assert.deepEqual(batches(), [
      ["a", "b"],
      ["c", "d"],
    ]);
    assert.deepEqual(rowsPerBatch(), [3, 3]);
  });

  void it("dispatches a preferred batch size without waiting for the delay", async () => {
    const { batcher, batches, submit } = harness({
      maxBatchSize: 8,
      preferredBatchSizes: [4],
      maxQueueDelayMicros: LONG_DELAY_MICROS,
    });
    const started = performance.now();
    await Promise.all(["a", "b", "c", "d"].map((p) => submit(p)));
    assert.ok(performance.now() - started < 1_000, "a preferred size must not wait the 5 s delay");
    assert.deepEqual(batches(), [["a", "b", "c", "d"]]);
    await batcher.drain();
  });

  void it("dispatches the largest preferred size that can be formed from a longer queue", async () => {
    const first = gate();
    const { batcher, calls, batches, submit } = harness(
      { maxBatchSize: 8, preferredBatchSizes: [2, 4], maxQueueDelayMicros: LONG_DELAY_MICROS },
      (payloads) => (payloads.includes("a") ? first.promise : undefined),
    );
    const results = ["a", "b", "c", "d", "e", "f", "g"].map((p) => submit(p));
    await tick();
    assert.deepEqual(batches(), [["a", "b"]]); // 2 is preferred: sent as soon as reached
    first.open();
    await Promise.all(results.slice(0, 6));
    assert.deepEqual(calls[1]?.payloads, ["c", "d", "e", "f"]); // 5 queued rows → the preferred 4
    assert.equal(batcher.pendingRequests, 1);
    await batcher.drain();
    assert.deepEqual(calls[2]?.payloads, ["g"]);
  });

  void it("sends a lone item after about maxQueueDelay, not much later", async () => {
    const { batcher, calls, submit } = harness({ maxBatchSize: 8, maxQueueDelayMicros: 50_000 });
    const started = performance.now();
    const result = await submit("a");
    const waited = (calls[0]?.startedAt ?? Infinity) - started;
    assert.ok(result.ok);
    assert.ok(waited >= 49, `dispatched after ${waited} ms, before the 50 ms delay`);
    assert.ok(waited < 450, `dispatched after ${waited} ms, far beyond the 50 ms delay`);
    await batcher.drain();
  });

  void it("rejects with queue_full once maxQueueSize requests are waiting", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness(
      { maxBatchSize: 1, maxQueueSize: 2 },
      () => running.promise,
    );
    const accepted = [submit("a"), submit("b"), submit("c")]; // a runs, b and c wait
    const error = errorOf(await submit("d"));
    assert.ok(BatcherError.is(error, "queue_full"));
    assert.equal(
      error.message,
      `queue for ${LABEL} is full: 2 requests pending (max_queue_size 2)`,
    );
    assert.equal(error.retryable, true);
    running.open();
    assert.ok((await Promise.all(accepted)).every((r) => r.ok));
    assert.deepEqual(batches(), [["a"], ["b"], ["c"]]);
    await batcher.drain();
  });

  void it("never runs an item whose deadline passed while it was queued", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness({ maxBatchSize: 1 }, () => running.promise);
    const a = submit("a");
    const late = submit("late", { deadline: performance.now() + 10 });
    const b = submit("b");
    await sleep(40);
    running.open();
    assert.ok((await a).ok && (await b).ok);
    const error = errorOf(await late);
    assert.ok(BatcherError.is(error, "deadline_exceeded"));
    assert.match(
      error.message,
      /missed its deadline by .* ms after .* ms in the queue; it was not run/,
    );
    assert.deepEqual(batches(), [["a"], ["b"]]);
    const expired = errorOf(await submit("expired", { deadline: performance.now() - 1 }));
    assert.ok(BatcherError.is(expired, "deadline_exceeded"));
    await batcher.drain();
  });

  void it("sweeps expired items when the delay timer fires", async () => {
    const { batcher, batches, submit } = harness({ maxBatchSize: 8, maxQueueDelayMicros: 60_000 });
    // `late` is the oldest, so nothing dispatches before its 60 ms delay, long after its 5 ms deadline.
    const late = submit("late", { deadline: performance.now() + 5 });
    const a = submit("a");
    assert.ok(BatcherError.is(errorOf(await late), "deadline_exceeded"));
    assert.ok((await a).ok);
    assert.deepEqual(batches(), [["a"]]);
    await batcher.drain();
  });

  void it("answers an item when its deadline passes, not when its batch would go", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness(
      { maxBatchSize: 8, maxQueueDelayMicros: LONG_DELAY_MICROS },
      () => running.promise,
    );
    const started = performance.now();
    const late = submit("late", { deadline: started + 30 });
    const error = errorOf(await late);
    const waited = performance.now() - started;
    assert.ok(BatcherError.is(error, "deadline_exceeded"));
    assert.ok(
      waited >= 25 && waited < 2000,
      `rejected after ${waited.toFixed(1)} ms for a 30 ms deadline and a 5 s delay`,
    );
    assert.deepEqual(batches(), [], "it never ran");
    running.open();
    await batcher.drain();
  });

  void it("removes an aborted item from the queue at once and drops its listener", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness({ maxBatchSize: 1 }, () => running.promise);
    const a = new AbortController();
    const first = submit("a", { signal: a.signal }); // runs: its listener must be gone
    const controller = new AbortController();
    const cancelled = submit("b", { signal: controller.signal });
    const c = submit("c");
    assert.equal(getEventListeners(a.signal, "abort").length, 0);
    assert.equal(batcher.pendingRequests, 2);
    const reason = new Error("client went away");
    controller.abort(reason);
    const error = errorOf(await cancelled); // settles while the executor is still blocked
    assert.ok(BatcherError.is(error, "cancelled"));
    assert.equal(error.cause, reason);
    assert.equal(batcher.pendingRequests, 1);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    a.abort(); // too late: a is running and is not affected
    running.open();
    assert.ok((await first).ok && (await c).ok);
    assert.deepEqual(batches(), [["a"], ["c"]]);
    const aborted = AbortSignal.abort(new Error("gone"));
    assert.ok(BatcherError.is(errorOf(await submit("d", { signal: aborted })), "cancelled"));
    await batcher.drain();
  });

  void it("serves a higher-priority item submitted later before queued lower-priority ones", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness(
      { maxBatchSize: 1, priorityLevels: 3, defaultPriorityLevel: 3 },
      (payloads) => (payloads.includes("first") ? running.promise : undefined),
    );
    const results = [
      submit("first"),
      submit("low1"),
      submit("low2", { priority: 3 }),
      submit("high", { priority: 1 }),
      submit("mid", { priority: 2 }),
      submit("unknown", { priority: 9 }), // out of range → default level, like Triton
    ];
    running.open();
    await Promise.all(results);
    const order = ["first", "high", "mid", "low1", "low2", "unknown"];
    assert.deepEqual(
      batches(),
      order.map((payload) => [payload]),
    );
    await batcher.drain();
  });

  for (const instanceCount of [1, 2]) {
    void it(`runs at most instanceCount (${instanceCount}) batches at the same time`, async () => {
      const running = gate();
      const { batcher, submit, maxActive } = harness(
        { maxBatchSize: 1, instanceCount },
        () => running.promise,
      );
      const results = ["a", "b", "c", "d"].map((p) => submit(p));
      await tick();
      assert.equal(batcher.runningBatches, instanceCount);
      assert.equal(batcher.pendingRequests, 4 - instanceCount);
      running.open();
      await Promise.all(results);
      assert.equal(maxActive(), instanceCount);
      await batcher.drain();
    });
  }

  void it("fails exactly the batch whose executor rejects; the next batch still runs", async () => {
    const boom = new Error("onnxruntime: out of memory");
    const { batcher, calls, submit } = harness(
      { maxBatchSize: 2, maxQueueDelayMicros: LONG_DELAY_MICROS },
      (payloads) => (payloads.includes("a") ? Promise.reject(boom) : undefined),
    );
    const failed = await Promise.all([submit("a"), submit("b")]);
    assert.deepEqual(failed.map(errorOf), [boom, boom]);
    const next = await Promise.all([submit("c"), submit("d")]);
    assert.deepEqual(valuesOf(next), ["done:c", "done:d"]);
    assert.equal(calls.length, 2);
    assert.equal(batcher.runningBatches, 0);
    await batcher.drain();
  });

  void it("releases the instance when the executor throws synchronously", async () => {
    const boom = new Error("sync failure");
    let fail = true;
    const batcher = new DynamicBatcher<string, string>(
      resolveBatcherOptions({ maxBatchSize: 1 }),
      (items) => {
        if (fail) throw boom;
        return Promise.resolve(items.map((item) => item.payload));
      },
    );
    assert.equal(errorOf(await settle(batcher.submit({ payload: "a", rows: 1 }))), boom);
    fail = false;
    assert.equal(await batcher.submit({ payload: "b", rows: 1 }), "b");
    await batcher.drain();
  });

  void it("rejects every item of a batch when the executor returns the wrong number of results", async () => {
    const batcher = new DynamicBatcher<string, string>(
      resolveBatcherOptions({
        maxBatchSize: 2,
        maxQueueDelayMicros: LONG_DELAY_MICROS,
        label: LABEL,
      }),
      () => Promise.resolve(["only one"]),
    );
    const results = await Promise.all(
      [0, 1].map(() => settle(batcher.submit({ payload: "x", rows: 1 }))),
    );
    for (const result of results) {
      assert.match(
        String(errorOf(result)),
        /returned 1 results for a batch of 2 requests \(2 rows\): expected one result per request/,
      );
    }
    assert.equal(batcher.runningBatches, 0);
    await batcher.drain();
  });

  void it("drain waits for queued and running items, sends the queue at once, and refuses new ones", async () => {
    const running = gate();
    const { batcher, batches, submit } = harness(
      { maxBatchSize: 2, maxQueueDelayMicros: LONG_DELAY_MICROS },
      (payloads) => (payloads.includes("a") ? running.promise : undefined),
    );
    const results = [submit("a"), submit("b"), submit("c")]; // [a, b] runs, c waits for a fuller batch
    let drained = false;
    const started = performance.now();
    const draining = batcher.drain().then(() => (drained = true));
    const closed = errorOf(await submit("d"));
    assert.ok(BatcherError.is(closed, "closed"));
    assert.match(closed.message, /draining/);
    await sleep(20);
    assert.equal(drained, false, "drain resolved while a batch was still running");
    running.open();
    await draining;
    assert.ok(performance.now() - started < 1_000, "drain must not wait for the 5 s delay");
    assert.ok((await Promise.all(results)).every((r) => r.ok));
    assert.deepEqual(batches(), [["a", "b"], ["c"]]);
    assert.equal(batcher.pendingRequests + batcher.runningBatches, 0);
  });

  void it("maxBatchSize 0 runs each request alone, one per instance", async () => {
    const running = gate();
    const { batcher, batches, rowsPerBatch, submit, maxActive } = harness(
      { maxBatchSize: 0, maxQueueDelayMicros: 20_000 },
      () => running.promise,
    );
    const results = ["a", "b", "c"].map((p) => submit(p));
    const twoRows = errorOf(await submit("x", { rows: 2 }));
    assert.ok(BatcherError.is(twoRows, "invalid_argument"));
    assert.equal(batcher.runningBatches, 1);
    assert.equal(batcher.pendingRequests, 2);
    running.open();
    await Promise.all(results);
    assert.deepEqual(batches(), [["a"], ["b"], ["c"]]);
    assert.deepEqual(rowsPerBatch(), [1, 1, 1]);
    assert.equal(maxActive(), 1);
    await batcher.drain();
  });

  void it("rejects an item with more rows than maxBatchSize as too_large, and rows < 1 as invalid", async () => {
    const { batcher, calls, submit } = harness({ maxBatchSize: 4 });
    const error = errorOf(await submit("big", { rows: 5 }));
    assert.ok(BatcherError.is(error, "too_large"));
    assert.match(error.message, /has 5 rows but max_batch_size is 4/);
    assert.ok(BatcherError.is(errorOf(await submit("empty", { rows: 0 })), "invalid_argument"));
    assert.equal(calls.length, 0);
    await batcher.drain();
  });

  void it("keeps FIFO order and bounds through a long queue", async () => {
    const { batcher, calls, submit } = harness({ maxBatchSize: 4 });
    const payloads = Array.from({ length: 5_000 }, (_, i) => String(i));
    const results = await Promise.all(payloads.map((p) => submit(p)));
    assert.ok(results.every((r, i) => r.ok && r.value === `done:${i}`));
    assert.deepEqual(
      calls.flatMap((c) => c.payloads),
      payloads,
    );
    assert.ok(calls.every((c) => c.rows <= 4));
    await batcher.drain();
  });
});
