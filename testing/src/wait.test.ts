import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, type Server, createServer } from "node:net";
import { StackError } from "./stack/stack-error.js";
import { StopWaiting, canConnect, freePort, isPortFree, waitFor, waitForPort } from "./wait.js";

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

async function listen(port = 0): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

describe("waitFor", () => {
  test("resolves with the first defined value", async () => {
    let calls = 0;
    const value = await waitFor(
      "three calls",
      () => Promise.resolve(++calls >= 3 ? "done" : undefined),
      {
        timeoutMs: 5_000,
        intervalMs: 1,
      },
    );
    assert.equal(value, "done");
    assert.equal(calls, 3);
  });

  test("times out saying what it waited for, the last attempt, and the hint", async () => {
    await assert.rejects(
      waitFor("the moon", () => Promise.reject(new Error("still night")), {
        timeoutMs: 50,
        intervalMs: 10,
        hint: () => "log: moon.log",
      }),
      {
        message:
          "timed out after 50 ms waiting for the moon (last attempt: still night); log: moon.log",
      },
    );
  });

  test("a probe's false or undefined is not yet; the timeout says so", async () => {
    await assert.rejects(
      waitFor("a flag", () => false, { timeoutMs: 30, intervalMs: 5 }),
      {
        message: "timed out after 30 ms waiting for a flag (last attempt: not yet (false))",
      },
    );
  });

  test("the error of a timeout can be the caller's own", async () => {
    await assert.rejects(
      waitFor("the moon", () => undefined, {
        timeoutMs: 20,
        timeoutError: (message) => new StackError("timeout", message),
      }),
      (error: unknown) => error instanceof StackError && error.code === "timeout",
    );
  });

  test("a StopWaiting probe error stops the wait at once", async () => {
    const started = performance.now();
    await assert.rejects(
      waitFor("never", () => Promise.reject(new StopWaiting(new Error("it exited"))), {
        timeoutMs: 10_000,
      }),
      /^Error: it exited$/,
    );
    assert.ok(performance.now() - started < 1_000);
  });
});

describe("ports", () => {
  test("waitForPort resolves once something listens", async () => {
    const port = await freePort();
    const waiting = waitForPort(port, { timeoutMs: 5_000 });
    setTimeout(() => void listen(port), 200);
    await waiting;
    assert.equal(await canConnect(port), true);
    assert.equal(await isPortFree(port), false);
  });

  test("waitForPort times out naming the address", async () => {
    const port = await freePort();
    await assert.rejects(
      waitForPort(port, { timeoutMs: 200 }),
      new RegExp(
        `waiting for a listener on 127\\.0\\.0\\.1:${port} \\(last attempt: connection refused\\)`,
      ),
    );
    assert.equal(await isPortFree(port), true);
  });
});
