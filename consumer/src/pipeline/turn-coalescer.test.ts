import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TurnCoalescer } from "./turn-coalescer.js";

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A coalescer over numbers whose calls the test sees, answering each request with its double. */
function doubling(
  options: {
    limit?: number;
    key?: (n: number) => unknown;
    fail?: (ns: readonly number[]) => Error | undefined;
    alone?: (error: unknown) => boolean;
  } = {},
) {
  const calls: number[][] = [];
  const coalescer = new TurnCoalescer<number, number>({
    size: (n) => Math.abs(n),
    limit: options.limit ?? 100,
    key: options.key,
    alone: options.alone,
    run: (requests) => {
      calls.push([...requests]);
      const error = options.fail?.(requests);
      return error === undefined
        ? Promise.resolve(requests.map((n) => n * 2))
        : Promise.reject(error);
    },
  });
  return { calls, coalescer };
}

describe("TurnCoalescer", () => {
  it("sends the requests of one turn as one call, each caller getting its own answer", async () => {
    const { calls, coalescer } = doubling();
    const answers = Promise.all([coalescer.call(1), coalescer.call(2), coalescer.call(3)]);
    assert.deepEqual(calls, [], "nothing before the end of the turn");
    assert.deepEqual(await answers, [2, 4, 6]);
    assert.deepEqual(calls, [[1, 2, 3]]);
    assert.deepEqual(coalescer.counts, { calls: 1, requests: 3 });

    // The next turn's requests make the next call.
    assert.equal(await coalescer.call(4), 8);
    assert.deepEqual(calls, [[1, 2, 3], [4]]);
  });

  it("keeps a call within the limit, and sends a request of over half of it at once, alone", async () => {
    const { calls, coalescer } = doubling({ limit: 10 });
    const answers = Promise.all([
      coalescer.call(4),
      coalescer.call(5),
      coalescer.call(3), // 4 + 5 + 3 > 10: the first two go, 3 starts the next call
      coalescer.call(6), // over half the limit: at once, alone, before the end of the turn
      coalescer.call(2),
    ]);
    assert.deepEqual(calls, [[4, 5], [6]]);
    assert.deepEqual(await answers, [8, 10, 6, 12, 4]);
    assert.deepEqual(calls, [[4, 5], [6], [3, 2]]);
  });

  it("merges only requests of the same key", async () => {
    const { calls, coalescer } = doubling({ key: (n) => n % 2 });
    assert.deepEqual(
      await Promise.all([1, 2, 3, 4, 5].map((n) => coalescer.call(n))),
      [2, 4, 6, 8, 10],
    );
    assert.deepEqual(calls, [
      [1, 3, 5],
      [2, 4],
    ]);
  });

  it("fails every caller of a failed call, and goes on with the next turn", async () => {
    const { calls, coalescer } = doubling({
      fail: (ns) => (ns.includes(13) ? new Error("Redis gone") : undefined),
    });
    const results = await Promise.allSettled([coalescer.call(1), coalescer.call(13)]);
    assert.deepEqual(
      results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : r.value)),
      ["Redis gone", "Redis gone"],
    );
    assert.equal(await coalescer.call(2), 4);
    assert.deepEqual(calls, [[1, 13], [2]]);
  });

  it("after an `alone` error, sends each request again by itself: only the culprit fails", async () => {
    const rejected = new Error("row rejected");
    const { calls, coalescer } = doubling({
      fail: (ns) => (ns.includes(13) ? rejected : undefined),
      alone: (error) => error === rejected,
    });
    const results = await Promise.allSettled([
      coalescer.call(1),
      coalescer.call(13),
      coalescer.call(2),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : r.value)),
      [2, "row rejected", 4],
    );
    assert.deepEqual(calls, [[1, 13, 2], [1], [13], [2]]);

    // A lone request's `alone` error is its own: no second attempt.
    await assert.rejects(coalescer.call(13), /row rejected/);
    assert.equal(calls.length, 5);
  });

  it("rejects every caller when the call answers the wrong number of requests", async () => {
    const coalescer = new TurnCoalescer<number, number>({
      size: () => 1,
      limit: 10,
      run: () => Promise.resolve([1]),
    });
    const results = await Promise.allSettled([coalescer.call(1), coalescer.call(2)]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.match(String(result.reason), /expected 2 answers/);
    }
  });

  it("turns a run that throws into rejections, and wraps merged calls of several callers", async () => {
    const wrapped: number[] = [];
    const coalescer = new TurnCoalescer<number, number>({
      size: () => 1,
      limit: 10,
      run: (requests) => {
        if (requests.includes(0)) throw new Error("not connected");
        return Promise.resolve(requests.map((n) => n));
      },
      around: (callers, call) => {
        wrapped.push(callers.length);
        return call();
      },
    });
    await assert.rejects(coalescer.call(0), /not connected/);
    assert.deepEqual(await Promise.all([coalescer.call(1), coalescer.call(2)]), [1, 2]);
    assert.deepEqual(wrapped, [2], "a lone call is not wrapped");
    await endOfTurn();
  });
});
