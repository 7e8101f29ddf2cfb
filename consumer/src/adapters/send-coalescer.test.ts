import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SendCoalescer } from "./send-coalescer.js";

/** A send whose requests the test acknowledges or fails by hand, in order. */
function manualSend() {
  const requests: { records: readonly string[]; ack(): void; fail(error: Error): void }[] = [];
  const send = (records: readonly string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      requests.push({ records: [...records], ack: resolve, fail: reject });
    });
  return { requests, send };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("SendCoalescer", () => {
  it("sends what arrives in one turn as one request, and what arrives meanwhile as the next", async () => {
    const { requests, send } = manualSend();
    const coalescer = new SendCoalescer(send);
    const done: string[] = [];
    const first = coalescer.send(["x1"]).then(() => done.push("x"));
    const second = coalescer.send(["y1", "y2"]).then(() => done.push("y"));
    assert.equal(requests.length, 0, "nothing before the end of the turn");
    await settle();
    assert.deepEqual(
      requests.map((r) => r.records),
      [["x1", "y1", "y2"]],
    );
    requests.shift()!.ack();
    await Promise.all([first, second]);
    done.length = 0;

    const a = coalescer.send(["a1", "a2"]).then(() => done.push("a"));
    await settle();
    const b = coalescer.send(["b1"]).then(() => done.push("b"));
    const c = coalescer.send(["c1", "c2"]).then(() => done.push("c"));
    await settle();
    assert.deepEqual(
      requests.map((r) => r.records),
      [["a1", "a2"]],
      "b and c wait while a is in flight",
    );

    requests[0]!.ack();
    await a;
    await settle();
    assert.deepEqual(done, ["a"], "b and c wait for their own request");
    assert.deepEqual(
      requests.map((r) => r.records),
      [
        ["a1", "a2"],
        ["b1", "c1", "c2"],
      ],
    );
    requests[1]!.ack();
    await Promise.all([b, c]);
    assert.deepEqual(done, ["a", "b", "c"]);

    const d = coalescer.send(["d1"]);
    await settle();
    assert.equal(requests.length, 3, "idle again: the next send goes out at the end of its turn");
    requests[2]!.ack();
    await d;
  });

  it("fails every caller of a failed request, and goes on with the next", async () => {
    const { requests, send } = manualSend();
    const coalescer = new SendCoalescer(send);
    const first = coalescer.send(["a"]);
    await settle();
    const second = coalescer.send(["b"]);
    const third = coalescer.send(["c"]);
    requests[0]!.ack();
    await first;
    await settle();
    requests[1]!.fail(new Error("broker gone"));
    await assert.rejects(second, /broker gone/);
    await assert.rejects(third, /broker gone/);

    const fourth = coalescer.send(["d"]);
    await settle();
    assert.deepEqual(requests.at(-1)!.records, ["d"]);
    requests.at(-1)!.ack();
    await fourth;
  });

  it("resolves an empty send without a request, and turns a throwing send into a rejection", async () => {
    const coalescer = new SendCoalescer<string>(() => {
      throw new Error("not connected");
    });
    await coalescer.send([]);
    await assert.rejects(coalescer.send(["a"]), /not connected/);
    await assert.rejects(coalescer.send(["b"]), /not connected/, "still usable after a throw");
  });
});
