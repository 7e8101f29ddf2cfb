/**
 * `npm run demo`, as a user runs it (node clients/demo/scripts/demo.mjs, from the built workspaces: `npm ci` or
 * `npm run build` first), on the real local stack: it predicts, prints plain lines when its output
 * is not a terminal, stops by itself after --duration and on Ctrl-C (SIGINT), accounts for every
 * event, deletes its topics and leaves a stack that was already running as it found it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import {
  ensureStack,
  KafkaAdmin,
  REPO_ROOT,
  STACK_TIMEOUT_MS,
  stackStatus,
  type StackStatus,
} from "@sluice/testing";

const DEMO = join(REPO_ROOT, "clients/demo/scripts/demo.mjs");
/** Start-up (sidecar warm-up, joining the group), 10-15 s of load, the ordered stop and verify. */
const DEMO_TIMEOUT_MS = 120_000;
const SAMPLE = /^ {2}prediction tx-\S+ user u-\S+ amount \d+\.\d\d [A-Z]{3} fraud v1 label [01] /;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  run: string;
}

/** Runs the demo with piped output; `onLine` may signal it. */
async function runDemo(
  args: string[],
  onLine: (line: string, child: ReturnType<typeof spawn>) => void = () => {},
): Promise<DemoRun> {
  const child = spawn(process.execPath, [DEMO, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      onLine(line, child);
    });
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), DEMO_TIMEOUT_MS);
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const run = /^Sluice demo, run (\w+):/.exec(lines[0] ?? "")?.[1] ?? "";
  return { code, signal, lines, run };
}

describe("npm run demo", { timeout: 4 * DEMO_TIMEOUT_MS }, () => {
  let before_: StackStatus;
  let admin: KafkaAdmin | undefined;

  before(
    async () => {
      before_ = await stackStatus();
      // With the stack (or KAFKA_BROKERS) up, the test can check the demo's topics are gone.
      if (before_.healthy || process.env["KAFKA_BROKERS"]) {
        const { brokers } = await ensureStack({ progress: () => {} });
        admin = new KafkaAdmin(brokers.split(","), "sluice-test");
      }
    },
    { timeout: STACK_TIMEOUT_MS },
  );

  after(async () => {
    await admin?.close();
  });

  async function assertCleanedUp(demo: DemoRun): Promise<void> {
    assert.match(demo.run, /^[0-9a-f]{8}$/, demo.lines.join("\n"));
    const after_ = await stackStatus();
    assert.equal(after_.kafka.running, before_.kafka.running, "Kafka left as it was");
    assert.equal(after_.redis.running, before_.redis.running, "Redis left as it was");
    if (admin !== undefined) {
      const left = (await admin.listTopics()).filter((t) => t.includes(`sluice-demo-${demo.run}`));
      assert.deepEqual(left, [], "the demo deleted its topics");
    }
  }

  function assertAccounted(demo: DemoRun): void {
    const output = demo.lines.join("\n");
    assert.equal(demo.code, 0, output);
    const predictions = /^ {2}predictions {5}([\d,]+) for/m.exec(output)?.[1];
    assert.ok(predictions !== undefined && Number(predictions.replaceAll(",", "")) > 0, output);
    assert.match(output, /verify {10}every event accounted for: 0 missing, 0 duplicated/);
    assert.match(output, /^ {2}dead letters {4}[1-9]/m, "the malformed events were dead-lettered");
    assert.match(output, /^ {2}for review {6}\d+ predictions under the confidence threshold$/m);
  }

  it(
    "--duration: plain live lines with predictions, then stops by itself and sums up",
    { timeout: DEMO_TIMEOUT_MS + 10_000 },
    async () => {
      const demo = await runDemo(["--duration", "12"]);
      assertAccounted(demo);
      const live = demo.lines.filter((line) => /^\[\d\d:\d\d\] produced /.test(line));
      assert.ok(live.length >= 8, `a line a second:\n${demo.lines.join("\n")}`);
      assert.ok(
        live.some((line) =>
          /predicted [1-9][\d,]* .* latency p50 \d+ ms p95 \d+ ms p99/.test(line),
        ),
        demo.lines.join("\n"),
      );
      assert.ok(
        demo.lines.some((line) => SAMPLE.test(line)),
        demo.lines.join("\n"),
      );
      assert.ok(
        demo.lines.some((line) => /^ {2}status page on http:\/\/127\.0\.0\.1:\d+\/ /.test(line)),
        "the consumer's status page is named",
      );
      assert.ok(!demo.lines.join("").includes("\x1b["), "no terminal escapes into a pipe");
      assert.ok(demo.lines.includes("Stopping (--duration 12 s)..."));
      // Late labels (5 s after their events) joined and evaluated per arm; the drift monitor ran.
      const output = demo.lines.join("\n");
      assert.match(
        output,
        /^ {2}evaluation {6}stable v1: [1-9]\d* labelled predictions, precision \S+, recall \S+, ROC AUC \S+, log loss \d/m,
      );
      assert.match(output, /^ {2}labels {10}.*joined [1-9]/m);
      assert.match(output, /^ {2}drift( v1 {8}| {11}not judged yet)/m);
      await assertCleanedUp(demo);
    },
  );

  it(
    "Ctrl-C (SIGINT) stops everything in order and exits 0",
    { timeout: DEMO_TIMEOUT_MS },
    async () => {
      let sent = false;
      const demo = await runDemo([], (line, child) => {
        if (!sent && SAMPLE.test(line)) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      assert.ok(sent, `predictions were shown before Ctrl-C:\n${demo.lines.join("\n")}`);
      assertAccounted(demo);
      assert.ok(demo.lines.includes("Stopping (Ctrl-C)..."));
      for (const stopped of [
        /^ {2}load generator: stopped, exit code 0$/,
        /^ {2}consumer: finished its micro-batch, committed and left the group, exit code 0$/,
        /^ {2}sidecar: drained and stopped, exit code 0$/,
      ]) {
        assert.ok(
          demo.lines.some((line) => stopped.test(line)),
          `${stopped}\n${demo.lines.join("\n")}`,
        );
      }
      await assertCleanedUp(demo);
    },
  );
});
