import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CommandResult, RunOptions } from "./run-command.js";
import { isLockHeld, requireRedisServer } from "./redis-server.js";
import { StackError } from "./stack-error.js";

const LOCKED =
  "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?";

/** A fake apt-get: answers each call from `script`; "installs" redis-server on success. */
function fakeApt(script: CommandResult[]) {
  const calls: string[][] = [];
  let installed = false;
  const run = (_command: string, args: readonly string[], _options: RunOptions) => {
    calls.push([...args]);
    const result = script.shift() ?? { code: 0, timedOut: false, output: "" };
    if (result.code === 0 && args.includes("install")) installed = true;
    return Promise.resolve(result);
  };
  const find = (name: string) =>
    name === "apt-get" ? "/usr/bin/apt-get" : installed ? "/usr/bin/redis-server" : undefined;
  return { calls, run, find };
}

describe("requireRedisServer", () => {
  test("found on PATH: nothing is installed", async () => {
    const path = await requireRedisServer({
      timeoutMs: 1_000,
      progress: () => undefined,
      find: (name) => (name === "redis-server" ? "/opt/bin/redis-server" : undefined),
      run: () => Promise.reject(new Error("must not run")),
    });
    assert.equal(path, "/opt/bin/redis-server");
  });

  test("not root: a clear message on how to install it, nothing run", async () => {
    await assert.rejects(
      requireRedisServer({
        timeoutMs: 1_000,
        progress: () => undefined,
        isRoot: false,
        find: () => undefined,
      }),
      (error: unknown) => {
        assert.ok(error instanceof StackError);
        assert.equal(error.code, "missing_tool");
        assert.match(
          error.message,
          /redis-server is not on PATH \(and this is not root.*apt-get install -y redis-server.*REDIS_URL/,
        );
        return true;
      },
    );
  });

  test("root: installs with apt-get, waiting out another apt-get's dpkg lock", async () => {
    const apt = fakeApt([
      { code: 100, timedOut: false, output: LOCKED },
      { code: 0, timedOut: false, output: "Setting up redis-server" },
    ]);
    const lines: string[] = [];
    const path = await requireRedisServer({
      timeoutMs: 30_000,
      progress: (line) => lines.push(line),
      isRoot: true,
      run: apt.run,
      find: apt.find,
      retryPauseMs: 10,
    });
    assert.equal(path, "/usr/bin/redis-server");
    assert.equal(apt.calls.length, 2);
    assert.deepEqual(apt.calls[0]?.slice(0, 2), ["-o", "DPkg::Lock::Timeout=60"]);
    assert.ok(apt.calls[0]?.includes("redis-server"));
    assert.ok(lines.some((line) => line.includes("dpkg lock is held")));
  });

  test("root on a fresh machine: apt-get update once, then the install", async () => {
    const apt = fakeApt([
      { code: 100, timedOut: false, output: "E: Unable to locate package redis-server" },
      { code: 0, timedOut: false, output: "Reading package lists" },
      { code: 0, timedOut: false, output: "Setting up redis-server" },
    ]);
    await requireRedisServer({
      timeoutMs: 30_000,
      progress: () => undefined,
      isRoot: true,
      ...apt,
    });
    assert.deepEqual(
      apt.calls.map((args) => args[2]),
      ["install", "update", "install"],
    );
  });

  test("a failing install reports apt-get's last output", async () => {
    const apt = fakeApt([{ code: 100, timedOut: false, output: "E: Broken packages" }]);
    await assert.rejects(
      requireRedisServer({ timeoutMs: 30_000, progress: () => undefined, isRoot: true, ...apt }),
      /installing redis-server with apt-get failed \(exit code 100\).*\n.*E: Broken packages/s,
    );
  });
});

describe("isLockHeld", () => {
  test("knows apt-get's lock messages, and only those", () => {
    assert.equal(isLockHeld(LOCKED), true);
    assert.equal(isLockHeld("E: Could not get lock /var/lib/apt/lists/lock"), true);
    assert.equal(isLockHeld("E: Unable to locate package redis-server"), false);
  });
});
