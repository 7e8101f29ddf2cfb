import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StackError } from "./stack-error.js";
import { lockPath } from "./stack-paths.js";
import { withStateLock } from "./state-lock.js";

const dir = await mkdtemp(join(tmpdir(), "sluice-lock-"));
after(() => rm(dir, { recursive: true, force: true }));

describe("withStateLock", () => {
  test("holds the lock while the body runs, and releases it after, even on error", async () => {
    const seen = await withStateLock(dir, 1_000, () => Promise.resolve(existsSync(lockPath(dir))));
    assert.equal(seen, true);
    assert.equal(existsSync(lockPath(dir)), false);
    await assert.rejects(
      withStateLock(dir, 1_000, () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(existsSync(lockPath(dir)), false);
  });

  test("takes over a lock whose holder died", async () => {
    // Above any pid_max: no such process can exist.
    await writeFile(lockPath(dir), "2147483646\n");
    assert.equal(await withStateLock(dir, 1_000, () => Promise.resolve("ran")), "ran");
  });

  test("waits for a live holder, then times out naming it", async () => {
    await writeFile(lockPath(dir), `${process.pid}\n`);
    try {
      await assert.rejects(
        withStateLock(dir, 300, () => Promise.resolve("ran")),
        (error: unknown) => {
          assert.ok(error instanceof StackError);
          assert.equal(error.code, "timeout");
          assert.match(
            error.message,
            new RegExp(`held by pid ${process.pid} \\(another \`sluice stack up\` or \`down\`\\)`),
          );
          return true;
        },
      );
    } finally {
      await rm(lockPath(dir), { force: true });
    }
  });

  test("serialises two bodies in one process", async () => {
    const order: string[] = [];
    const body = (name: string) => async () => {
      order.push(`${name} in`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push(`${name} out`);
    };
    await Promise.all([withStateLock(dir, 5_000, body("a")), withStateLock(dir, 5_000, body("b"))]);
    assert.deepEqual(
      order.slice(0, 2).map((step) => step.split(" ")[1]),
      ["in", "out"],
    );
  });
});
