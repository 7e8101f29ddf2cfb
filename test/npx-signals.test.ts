/**
 * `npx sluice serve` and `npx sluice consume`, started as a user does in a terminal or a script,
 * then SIGTERM to the npx process. npm passes the signal to the `sh -c` it started, not to node,
 * and exits: without the launcher watch (clients/cli/src/launcher-watch.ts) node kept running,
 * orphaned, holding its port or its partitions. What a user relies on: node notices, drains as on
 * SIGTERM (the sidecar stops, the consumer commits and leaves its group) and is gone within
 * seconds, leaving no process behind.
 *
 * npx runs the built command (node_modules/.bin/sluice → clients/cli/dist): `npm run build` first.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { afterEach, describe, it } from "node:test";
import {
  EXAMPLE_MODELS,
  eventMessages,
  fraudDocument,
  fraudStream,
  pipelineHarness,
  REPO_ROOT,
  waitFor,
} from "@sluice/testing";

/** npm's own start, then the command's. */
const START_TIMEOUT_MS = 60_000;
/** Half a second to notice (PARENT_POLL_MS), then the drain: a few seconds on a busy machine. */
const EXIT_TIMEOUT_MS = 15_000;

interface NpxProcess {
  readonly npx: ChildProcess;
  /** stdout and stderr lines of npx and the command, which shares its pipes. */
  readonly lines: string[];
  /** The first line matching `pattern`, parsed as the command's JSON log line. */
  logLine(pattern: RegExp, timeoutMs: number): Promise<{ pid: number; [key: string]: unknown }>;
}

function npx(args: readonly string[]): NpxProcess {
  const child = spawn("npx", ["sluice", ...args], {
    cwd: REPO_ROOT,
    env: process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const listeners: (() => void)[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      for (const listener of [...listeners]) listener();
    });
  }
  return {
    npx: child,
    lines,
    logLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => l.startsWith("{") && pattern.test(l));
          if (line === undefined) return false;
          listeners.splice(listeners.indexOf(check), 1);
          clearTimeout(timer);
          resolve(JSON.parse(line) as { pid: number });
          return true;
        };
        const timer = setTimeout(() => {
          listeners.splice(listeners.indexOf(check), 1);
          reject(new Error(`no line like ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`));
        }, timeoutMs);
        listeners.push(check);
        check();
      });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the commands started here, killed in `afterEach` if a test left them running. */
const started: number[] = [];

async function sigtermNpx(started: NpxProcess, commandPid: number): Promise<void> {
  const exited = once(started.npx, "exit");
  started.npx.kill("SIGTERM");
  await exited;
  await waitFor(`the command (pid ${commandPid}) to exit`, () => !alive(commandPid), {
    timeoutMs: EXIT_TIMEOUT_MS,
  });
}

afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
});

describe("SIGTERM to npx reaches the sluice command", { timeout: 4 * 60_000 }, () => {
  it(
    "npx sluice serve: the sidecar drains and exits, no orphan left",
    { timeout: 90_000 },
    async () => {
      const serve = npx([
        "serve",
        "--model-repository",
        EXAMPLE_MODELS,
        "--grpc-port",
        "0",
        "--metrics-port",
        "-1",
      ]);
      const { pid } = await serve.logLine(/"msg":"sidecar ready"/, START_TIMEOUT_MS);
      started.push(pid);
      assert.notEqual(pid, serve.npx.pid, "node runs under npx, not as npx");
      await sigtermNpx(serve, pid);
      const said = serve.lines.join("\n");
      assert.match(said, /"msg":"the npm process that started this command exited/);
      assert.match(said, /"msg":"sidecar stopped"/, "drained as on SIGTERM");
    },
  );

  describe("npx sluice consume", () => {
    const h = pipelineHarness();

    it(
      "finishes, commits, leaves the group and exits, no orphan left",
      { timeout: 120_000 },
      async () => {
        const { topics, settings } = await h.setup(2, { maxEvents: 16 });
        const file = await h.writeConfig(await fraudDocument(settings));
        const { events, homes } = fraudStream(13, 4, 5, `${h.run}-npx`);
        await h.loadHomes(homes);
        const consume = npx(["consume", "--config", file]);
        const { pid } = await consume.logLine(/pipeline \\"fraud\\" consuming/, START_TIMEOUT_MS);
        started.push(pid);
        await h.kafka.produce(topics.in, eventMessages(events));
        await waitFor(
          "every prediction written",
          async () => (await h.kafka.admin.written(topics.out)) >= events.length,
          { timeoutMs: 30_000 },
        );
        await sigtermNpx(consume, pid);
        assert.match(consume.lines.join("\n"), /"msg":"pipeline \\"fraud\\" stopped"/);
        assert.equal(await h.kafka.admin.groupState(settings.groupId), "Empty", "left the group");
        const committed = await h.kafka.admin.committedOffsets(settings.groupId, topics.in);
        for (const { partition, high } of await h.kafka.admin.topicEnds(topics.in)) {
          if (high > 0) assert.equal(committed.get(partition), high, `partition ${partition}`);
        }
      },
    );
  });
});
