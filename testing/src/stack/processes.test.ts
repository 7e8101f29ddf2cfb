import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  commandLine,
  isRunning,
  logHint,
  readRecord,
  spawnDetached,
  stopProcess,
  tail,
  writeRecord,
} from "./processes.js";
import { StackError } from "./stack-error.js";
import { waitFor } from "../wait.js";

const dir = await mkdtemp(join(tmpdir(), "sluice-processes-"));
const started: number[] = [];
after(async () => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** A detached node process that prints "ready", then idles; `ignoreTerm` makes it ignore SIGTERM. */
async function sleeper(ignoreTerm = false): Promise<{ pid: number; marker: string; log: string }> {
  const marker = `sluice-test-${randomUUID()}`;
  const log = join(dir, `${marker}.log`);
  const script = `${ignoreTerm ? "process.on('SIGTERM', () => console.log('ignored'));" : ""} console.log('ready'); setInterval(() => {}, 1000);`;
  const pid = await spawnDetached(process.execPath, ["-e", script, marker], { logFile: log });
  started.push(pid);
  await waitFor(
    "the sleeper to print ready",
    async () => ((await readFile(log, "utf8")).includes("ready") ? true : undefined),
    { timeoutMs: 10_000 },
  );
  return { pid, marker, log };
}

describe("spawnDetached and stopProcess", () => {
  test("runs detached with output in the log; SIGTERM stops it", async () => {
    const { pid, marker, log } = await sleeper();
    assert.ok(isRunning(pid, [marker]));
    assert.match(commandLine(pid) ?? "", new RegExp(marker));
    assert.equal(await tail(log), "ready");
    assert.equal(await stopProcess(pid, [marker], 5_000), "stopped");
    assert.equal(isRunning(pid, [marker]), false);
    assert.equal(await stopProcess(pid, [marker], 5_000), "not-running");
  });

  test("a process that ignores SIGTERM is killed after the timeout", async () => {
    const { pid, marker } = await sleeper(true);
    const before = performance.now();
    assert.equal(await stopProcess(pid, [marker], 300), "killed");
    assert.ok(performance.now() - before < 5_000);
    assert.equal(isRunning(pid, [marker]), false);
  });

  test("a pid whose command line lacks the marker (a reused pid) is left alone", async () => {
    const { pid, marker } = await sleeper();
    assert.equal(await stopProcess(pid, ["some-other-stack"], 1_000), "not-running");
    assert.ok(isRunning(pid, [marker]), "the unrelated process still runs");
    assert.equal(await stopProcess(pid, [marker], 5_000), "stopped");
  });

  test("a command that does not exist fails to start, naming it", async () => {
    await assert.rejects(
      spawnDetached(join(dir, "no-such-tool"), [], { logFile: join(dir, "none.log") }),
      (error: unknown) => {
        assert.ok(error instanceof StackError);
        assert.equal(error.code, "start_failed");
        assert.match(error.message, /cannot run .*no-such-tool: spawn .* ENOENT/);
        return true;
      },
    );
  });
});

describe("pid files", () => {
  test("round trip; a missing or torn file reads as no record", async () => {
    const path = join(dir, "kafka.json");
    assert.equal(await readRecord(path), undefined);
    const record = { pid: 42, port: 9092, markers: ["x"], log: "k.log", startedAt: "now" };
    await writeRecord(path, record);
    assert.deepEqual(await readRecord(path), record);
    await writeFile(path, '{"pid": 4');
    assert.equal(await readRecord(path), undefined);
  });
});

describe("logHint", () => {
  test("the log's path and its last lines, indented", async () => {
    const log = join(dir, "hint.log");
    await writeFile(log, Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n"));
    const hint = await logHint(log, 2);
    assert.equal(hint, `log: ${log}, last lines:\n    line 28\n    line 29`);
    assert.equal(
      await logHint(join(dir, "missing.log")),
      `log: ${join(dir, "missing.log")} (empty)`,
    );
  });
});
