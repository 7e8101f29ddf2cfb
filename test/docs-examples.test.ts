/**
 * Every command example runs as printed (issue 14): the `$ …` lines of every `sluice` command's
 * help and the shell blocks of every Markdown file (test/docs-examples/collect.ts). The `sluice`
 * examples run, from the repository root, through a `sluice` on PATH that runs the CLI from source
 * (`npx sluice` is the same program), in four scenes that run at once:
 *
 * - client:   infer, models, metadata, health, load, unload against a sidecar on examples/models
 *             (explicit mode, admin token s3cret-token, as the examples say), unloads last;
 * - serve:    each `sluice serve` is started, must answer the health check, then SIGTERM: exit 0;
 * - stack:    `sluice stack …` on a stack of its own (a temp --state-dir), the ups first, downs last;
 * - pipeline: consume (kept running), produce, verify once the consumers caught up, backtest, top
 *             (a live view gets SIGINT: exit 0), on the local stack with this test's own topics;
 * - rollout:  `sluice rollout …` on examples/pipelines/fraud-canary.yaml's copy with a Redis key
 *             prefix of its own (the command needs only Redis), its ramps shortened to 1 s.
 *
 * What the test changes, and only that: the documented default addresses (127.0.0.1:8001 the
 * sidecar, :8002 its metrics, :8003/:8004 consumers' metrics, :9092 Kafka, :6379 Redis, and
 * 19092/16379 of `stack up`'s example) become free ports here, so the test runs beside a
 * developer's own sidecar and stack; `examples/pipelines/fraud.yaml` becomes a copy pointing at
 * this test's topics, group, Redis prefix and sidecar. Examples that cannot run here are named
 * with the reason in NOT_RUN_HERE, and counted.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { randomUUID } from "node:crypto";
import { parse, stringify } from "yaml";
import { InferenceClient } from "@sluice/client";
import type { Sidecar } from "@sluice/server";
import {
  EXAMPLE_MODELS,
  REPO_ROOT,
  deleteKeys,
  fraudDocument,
  freePort,
  readMetrics,
  startTestKafka,
  startTestRedis,
  startTestSidecar,
  stopStack,
  uniquePrefix,
  StopWaiting,
  waitFor,
} from "@sluice/testing";
import {
  NOT_RUN_HERE,
  collectExamples,
  sluiceCommand,
  type Example,
} from "./docs-examples/collect.js";

const EXAMPLES = collectExamples();
const SCENE_OF: Record<string, "client" | "serve" | "stack" | "pipeline" | "rollout"> = {
  metadata: "client",
  models: "client",
  infer: "client",
  health: "client",
  load: "client",
  unload: "client",
  serve: "serve",
  stack: "stack",
  consume: "pipeline",
  produce: "pipeline",
  verify: "pipeline",
  top: "pipeline",
  "load-lookups": "pipeline",
  rollout: "rollout",
  backtest: "pipeline",
};
/** A command that ends by itself; the long-running ones are stopped by a signal. */
const SHORT_TIMEOUT_MS = 90_000;
/** A sidecar loading examples/models, or a consumer joining its group, on a busy 2-core machine. */
const START_TIMEOUT_MS = 60_000;

const sluiceExamples = (scene: string) =>
  EXAMPLES.filter((example) => SCENE_OF[sluiceCommand(example.line) ?? ""] === scene);

let shimDir: string;
before(async () => {
  // `sluice` on PATH: the CLI from source, as the test suite runs everything.
  shimDir = await mkdtemp(join(tmpdir(), "sluice-docs-"));
  const shim = join(shimDir, "sluice");
  const main = join(REPO_ROOT, "clients/cli/src/main.ts");
  await writeFile(
    shim,
    `#!/bin/sh\nexec "${process.execPath}" --conditions=source --import tsx "${main}" "$@"\n`,
  );
  await chmod(shim, 0o755);
});
after(() => rm(shimDir, { recursive: true, force: true }));

/** The documented default ports this scene serves elsewhere, and other replacements. */
interface Environment {
  readonly ports: ReadonlyMap<number, number>;
  readonly env: NodeJS.ProcessEnv;
  /** Further changes for this scene (the pipeline file, the stack's state folder). */
  readonly adapt?: (line: string) => string;
}

/** The example as it runs in `environment`: the default ports → the scene's, and its changes. */
function adapt(line: string, environment: Environment): string {
  const adapted = line.replace(
    /(127\.0\.0\.1:|--[a-z-]*port )(\d+)\b/g,
    (whole, prefix: string, port: string) => {
      const mapped = environment.ports.get(Number(port));
      return mapped === undefined ? whole : `${prefix}${mapped}`;
    },
  );
  return environment.adapt?.(adapted) ?? adapted;
}

function shell(line: string, environment: Environment): ChildProcess {
  return spawn("bash", ["-o", "pipefail", "-c", line], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...environment.env, PATH: `${shimDir}:${process.env["PATH"] ?? ""}` },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
}

interface Run {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

function start(line: string, environment: Environment): Run {
  const child = shell(line, environment);
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Runs a command that ends by itself; fails with its output unless it exits 0 in time. */
async function runShort(example: Example, environment: Environment): Promise<void> {
  const line = adapt(example.line, environment);
  const run = start(line, environment);
  const timer = setTimeout(() => kill(run, "SIGKILL"), SHORT_TIMEOUT_MS);
  const code = await run.exited;
  clearTimeout(timer);
  assert.equal(code, 0, failure(example, line, `exit ${code}`, run.output()));
}

/** Starts a long-running command and waits until `ready` says it is up. */
async function runLong(
  example: Example,
  environment: Environment,
  ready: (run: Run) => Promise<boolean>,
): Promise<Run & { readonly line: string }> {
  const line = adapt(example.line, environment);
  const run = start(line, environment);
  try {
    await waitFor(
      `${line} to come up`,
      async () => {
        if (run.child.exitCode !== null) {
          throw new StopWaiting(
            new Error(failure(example, line, `exited ${run.child.exitCode}`, run.output())),
          );
        }
        return (await ready(run).catch(() => false)) || undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 250 },
    );
  } catch (error) {
    kill(run, "SIGKILL");
    throw error;
  }
  return { ...run, line };
}

/** Stops a long-running command as a user would (SIGTERM, or Ctrl-C); it must exit 0. */
async function stop(
  run: Run & { readonly line: string },
  example: Example,
  signal: NodeJS.Signals,
) {
  kill(run, signal);
  const timer = setTimeout(() => kill(run, "SIGKILL"), 30_000);
  const code = await run.exited;
  clearTimeout(timer);
  assert.equal(code, 0, failure(example, run.line, `after ${signal}: exit ${code}`, run.output()));
}

function kill(run: Run, signal: NodeJS.Signals): void {
  if (signal === "SIGKILL" && run.child.pid !== undefined) {
    // Giving up: the whole process group (spawned detached), so nothing a line started lingers.
    try {
      process.kill(-run.child.pid, "SIGKILL");
    } catch {
      // The group is gone already.
    }
    return;
  }
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  // bash execs the one command, and the sluice shim execs node: the pid is the program itself.
  run.child.kill(signal);
}

function failure(example: Example, line: string, what: string, output: string): string {
  const ran = line === example.line ? "" : `\n  ran as: ${line}`;
  return `example from ${example.sources.join(", ")}:\n  $ ${example.line}${ran}\n${what}:\n${output}`;
}

async function health(address: string): Promise<boolean> {
  const client = new InferenceClient({ address, deadlineMs: 1_000 });
  try {
    return (await client.health()) === "SERVING";
  } finally {
    client.close();
  }
}

async function answers(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return response.ok;
}

describe("the command examples of --help, the README and the docs", () => {
  test("every example runs here or is named as not run with the reason", (t) => {
    const sluice = EXAMPLES.filter((e) => sluiceCommand(e.line) !== undefined);
    const others = EXAMPLES.filter((e) => sluiceCommand(e.line) === undefined);
    for (const example of sluice) {
      const command = sluiceCommand(example.line) ?? "";
      assert.ok(
        SCENE_OF[command] !== undefined,
        `no scene runs \`sluice ${command}\` (${example.sources.join(", ")}): add it to SCENE_OF`,
      );
    }
    const reasons = new Map<string, Example[]>();
    for (const example of others) {
      const entries = NOT_RUN_HERE.filter((entry) => entry.pattern.test(example.line));
      assert.equal(
        entries.length,
        1,
        `${example.sources.join(", ")}: \`${example.line}\` must run, or match exactly one NOT_RUN_HERE entry (matches ${entries.length})`,
      );
      const reason = entries[0]!.reason;
      reasons.set(reason, [...(reasons.get(reason) ?? []), example]);
    }
    for (const entry of NOT_RUN_HERE) {
      assert.ok(
        reasons.has(entry.reason),
        `NOT_RUN_HERE entry matches no example: ${entry.pattern}`,
      );
    }
    assert.ok(sluice.length >= 30, `expected the CLI's examples, found ${sluice.length}`);
    t.diagnostic(`${sluice.length} sluice examples run; ${others.length} examples not run here:`);
    for (const [reason, examples] of reasons) t.diagnostic(`  ${examples.length}: ${reason}`);
  });

  describe("run", { concurrency: true }, () => {
    test("client: infer, models, metadata, health, load and unload on examples/models", async () => {
      const sidecar = await startTestSidecar({
        modelRepository: EXAMPLE_MODELS,
        modelControlMode: "explicit",
        loadModels: ["*"],
        adminToken: "s3cret-token",
      });
      try {
        const address = `127.0.0.1:${sidecar.grpcPort}`;
        const environment: Environment = {
          ports: new Map([[8001, sidecar.grpcPort]]),
          env: { SLUICE_URL: address, SLUICE_ADMIN_TOKEN: "" },
        };
        // What changes the server (unload) runs after what reads it.
        const order = ["metadata", "models", "infer", "health", "load", "unload"];
        const examples = sluiceExamples("client").sort(
          (a, b) =>
            order.indexOf(sluiceCommand(a.line) ?? "") - order.indexOf(sluiceCommand(b.line) ?? ""),
        );
        for (const example of examples) await runShort(example, environment);
      } finally {
        await sidecar.close();
      }
    });

    test("serve: each one answers the health check, then drains on SIGTERM", async () => {
      for (const example of sluiceExamples("serve")) {
        const [grpc, metrics] = [await freePort(), await freePort()];
        const environment: Environment = {
          ports: new Map([
            [8001, grpc],
            [8002, metrics],
          ]),
          env: {},
          adapt: (line) =>
            `${line}${/--grpc-port/.test(line) ? "" : ` --grpc-port ${grpc}`}${/--metrics-port/.test(line) ? "" : ` --metrics-port ${metrics}`}`,
        };
        const run = await runLong(example, environment, () => health(`127.0.0.1:${grpc}`));
        await stop(run, example, "SIGTERM");
      }
    });

    test("stack: up, status, fetch and down on a stack of their own", async () => {
      const stateDir = await mkdtemp(join(tmpdir(), "sluice-docs-stack-"));
      const ports = new Map<number, number>();
      for (const port of [9092, 6379, 19092, 16379]) ports.set(port, await freePort());
      const environment: Environment = {
        ports,
        // Set, they would make `up` only check those services.
        env: { KAFKA_BROKERS: "", REDIS_URL: "" },
        adapt: (line) =>
          line.replace(
            /\bsluice stack (up|down|status|fetch)\b([^|"]*)/g,
            (_whole, sub: string, rest: string) => {
              const defaults =
                sub === "up" && !rest.includes("--kafka-port")
                  ? ` --kafka-port ${ports.get(9092)} --redis-port ${ports.get(6379)}`
                  : "";
              return `sluice stack ${sub}${rest.trimEnd()} --state-dir ${stateDir}${defaults} `;
            },
          ),
      };
      // The ups on the default ports (the same stack: the second is a no-op), status and fetch
      // while it runs; then, stopped, the up on other ports; the downs last.
      const examples = sluiceExamples("stack");
      const is = (pattern: RegExp) => examples.filter((e) => pattern.test(e.line));
      const defaultUps = is(/stack up(?!.*--kafka-port)/);
      const otherUps = is(/stack up.*--kafka-port/);
      const checks = is(/stack (status|fetch)/);
      const downs = is(/stack down/).sort(
        (a, b) => Number(a.line.includes("--purge")) - Number(b.line.includes("--purge")),
      );
      assert.equal(
        defaultUps.length + otherUps.length + checks.length + downs.length,
        examples.length,
      );
      try {
        for (const example of [...defaultUps, ...checks]) await runShort(example, environment);
        await stopStack({ stateDir, progress: () => {} });
        for (const example of [...otherUps, ...downs]) await runShort(example, environment);
      } finally {
        await stopStack({ stateDir, progress: () => {} });
        await rm(stateDir, { recursive: true, force: true });
      }
    });

    test("rollout: status, set, rollback and reset on the canary example's Redis key", async () => {
      const redis = await startTestRedis();
      const keyPrefix = uniquePrefix();
      const configDir = await mkdtemp(join(tmpdir(), "sluice-docs-rollout-"));
      try {
        const config = join(configDir, "fraud-canary.yaml");
        const document = parse(
          await readFile(join(REPO_ROOT, "examples/pipelines/fraud-canary.yaml"), "utf8"),
        ) as { pipeline: Record<string, unknown> };
        document.pipeline["redis"] = { url: redis.url, key_prefix: keyPrefix };
        await writeFile(config, stringify(document));
        const environment: Environment = {
          ports: new Map(),
          env: { REDIS_URL: redis.url },
          adapt: (line) =>
            line
              .replaceAll("examples/pipelines/fraud-canary.yaml", config)
              .replace(/--ramp \S+/, "--ramp 1s"),
        };
        for (const example of sluiceExamples("rollout")) await runShort(example, environment);
      } finally {
        await deleteKeys(redis.client, `${keyPrefix}*`);
        await redis.stop();
        await rm(configDir, { recursive: true, force: true });
      }
    });

    test("pipeline: consume, produce, verify, backtest and top on the local stack", async () => {
      const kafka = await startTestKafka();
      const redis = await startTestRedis();
      const keyPrefix = uniquePrefix();
      const [sidecarMetrics, consumerMetrics, secondMetrics] = [
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      let sidecar: Sidecar | undefined;
      let configDir: string | undefined;
      const running: { run: Run & { line: string }; example: Example }[] = [];
      try {
        sidecar = await startTestSidecar({
          modelRepository: EXAMPLE_MODELS,
          metricsPort: sidecarMetrics,
        });
        const topics = await kafka.topics(["input", "output", "dlq", "review"], 3);
        configDir = await mkdtemp(join(tmpdir(), "sluice-docs-pipeline-"));
        const config = join(configDir, "fraud.yaml");
        const document = await fraudDocument({
          topics,
          brokers: kafka.brokers,
          redisUrl: redis.url,
          sidecarPort: sidecar.grpcPort,
          keyPrefix,
          groupId: `sluice-docs-${randomUUID()}`,
          patch: { metrics: { port: consumerMetrics } },
        });
        await writeFile(config, stringify(document));
        const kafkaPort = Number(kafka.brokers[0]?.split(":").at(-1));
        const environment: Environment = {
          ports: new Map([
            [8001, sidecar.grpcPort],
            [8002, sidecarMetrics],
            [8003, consumerMetrics],
            [8004, secondMetrics],
            [9092, kafkaPort],
          ]),
          env: { KAFKA_BROKERS: kafka.brokers.join(","), REDIS_URL: redis.url },
          adapt: (line) => line.replaceAll("examples/pipelines/fraud.yaml", config),
        };
        const examples = sluiceExamples("pipeline");
        const of = (command: string) => examples.filter((e) => sluiceCommand(e.line) === command);

        for (const example of of("consume")) {
          const port = /--metrics-port (\d+)/.exec(adapt(example.line, environment))?.[1];
          const metricsUrl = `http://127.0.0.1:${port ?? consumerMetrics}/metrics`;
          const run = await runLong(example, environment, () => answers(metricsUrl));
          running.push({ run, example });
        }
        for (const example of of("produce")) await runShort(example, environment);
        // verify accounts for every event: wait until the consumers have read to the end.
        await waitFor(
          "the consumers to catch up",
          async () => {
            const lags = (
              await Promise.all(
                [consumerMetrics, secondMetrics].map((p) => readMetrics(p).catch(() => [])),
              )
            )
              .flat()
              .filter((sample) => sample.name === "sluice_consumer_lag");
            return lags.length > 0 && lags.every((sample) => sample.value === 0) ? true : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 500 },
        );
        for (const example of of("verify")) await runShort(example, environment);
        // The consumers scored the events; a backtest replays them beside them.
        for (const example of of("backtest")) await runShort(example, environment);
        for (const example of of("top")) {
          if (example.line.includes("--once")) {
            await runShort(example, environment);
            continue;
          }
          const run = await runLong(example, environment, (r) =>
            Promise.resolve(r.output().includes("sluice top")),
          );
          await stop(run, example, "SIGINT");
        }
        for (let next = running.shift(); next !== undefined; next = running.shift()) {
          try {
            await stop(next.run, next.example, "SIGTERM");
          } catch (error) {
            running.unshift(next);
            throw error;
          }
        }
      } finally {
        for (const { run } of running) kill(run, "SIGKILL");
        await sidecar?.close();
        await deleteKeys(redis.client, `${keyPrefix}*`);
        await redis.stop();
        await kafka.close();
        if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
      }
    });
  });
});
