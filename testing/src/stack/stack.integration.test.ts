/**
 * The real thing: ensureStack starts a Kafka (jars fetched by Maven on a cold cache) and a Redis
 * on free ports with a private state folder, so it never touches a developer's running stack.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_KEY_API_VERSIONS, API_KEY_METADATA, requestApiVersions } from "./kafka-protocol.js";
import { redisPing } from "./redis-ping.js";
import {
  type StackUp,
  ensureStack,
  kafkaAvailable,
  redisAvailable,
  stackStatus,
  stopStack,
} from "./stack.js";
import { StackError } from "./stack-error.js";
import type { StackOptions } from "./stack-options.js";
import { freePort, isPortFree } from "../wait.js";

/** The APIs kafkajs 2.2.4 uses in the consumer path: 3.9 accepts every version of each from 0. */
const KAFKAJS_APIS = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  ApiVersions: 18,
  CreateTopics: 19,
  InitProducerId: 22,
} as const;

let stateDir: string;
let options: StackOptions;
let first: StackUp;
const progress: string[] = [];

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-stack-it-"));
  const kafkaPort = await freePort();
  let redisPort = await freePort();
  while (redisPort === kafkaPort) redisPort = await freePort();
  options = {
    kafkaPort,
    redisPort,
    stateDir,
    // Empty: a developer's exported KAFKA_BROKERS / REDIS_URL must not turn this into a check only.
    env: {},
    // Kept, and shown as the tests' diagnostics: the report, not stray lines on stderr.
    progress: (line) => progress.push(line),
    stopTimeoutMs: 15_000,
  };
});

after(async () => {
  // Whatever a failed test left running is stopped; stopStack is a no-op when nothing runs.
  await stopStack({ ...options, stopTimeoutMs: 5_000 }).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

describe("ensureStack on free ports", () => {
  test("up starts Kafka and Redis and returns their addresses once both are healthy", async (t) => {
    const started = performance.now();
    first = await ensureStack(options);
    const seconds = (performance.now() - started) / 1000;
    for (const line of progress) t.diagnostic(line);
    t.diagnostic(`cold-or-warm up took ${seconds.toFixed(1)} s`);
    assert.equal(first.brokers, `127.0.0.1:${options.kafkaPort}`);
    assert.equal(first.redisUrl, `redis://127.0.0.1:${options.redisPort}`);
    assert.equal(first.kafka.state, "started");
    assert.equal(first.redis.state, "started");
    assert.ok(first.kafka.pid !== undefined && first.redis.pid !== undefined);
    assert.ok(existsSync(join(stateDir, "kafka.json")) && existsSync(join(stateDir, "kafka.log")));
  });

  test("Kafka answers a real ApiVersions round trip accepting every version kafkajs may send", async () => {
    const ranges = await requestApiVersions({ host: "127.0.0.1", port: options.kafkaPort ?? 0 });
    const byKey = new Map(ranges.map((range) => [range.apiKey, range]));
    assert.ok(byKey.has(API_KEY_API_VERSIONS) && byKey.has(API_KEY_METADATA));
    for (const [name, key] of Object.entries(KAFKAJS_APIS)) {
      const range = byKey.get(key);
      assert.ok(range !== undefined, `${name} (key ${key}) is served`);
      assert.equal(
        range.minVersion,
        0,
        `${name} accepts v0 (got v${range.minVersion}-v${range.maxVersion})`,
      );
    }
    assert.equal(await kafkaAvailable(first.brokers), true);
  });

  test("Redis answers PING with PONG", async () => {
    await redisPing({ host: "127.0.0.1", port: options.redisPort ?? 0 });
    assert.equal(await redisAvailable(first.redisUrl), true);
  });

  test("a second up is a no-op: same processes, no start", async () => {
    const started = performance.now();
    const again = await ensureStack(options);
    assert.equal(again.kafka.state, "running");
    assert.equal(again.redis.state, "running");
    assert.equal(again.kafka.pid, first.kafka.pid);
    assert.equal(again.redis.pid, first.redis.pid);
    assert.ok(performance.now() - started < 10_000, "a health check, not a start");
  });

  test("status says what runs: pids, ports, healthy", async () => {
    const status = await stackStatus(options);
    assert.equal(status.healthy, true);
    assert.equal(status.kafka.pid, first.kafka.pid);
    assert.equal(status.kafka.port, options.kafkaPort);
    assert.match(status.kafka.detail, /^cluster \S+, controller 1, \d+ APIs$/);
    assert.equal(status.redis.port, options.redisPort);
    assert.equal(status.redis.detail, "PONG");
  });

  test("with KAFKA_BROKERS and REDIS_URL set, only checks them and starts nothing", async () => {
    const otherState = await mkdtemp(join(tmpdir(), "sluice-stack-it-env-"));
    try {
      const external = await ensureStack({
        ...options,
        stateDir: otherState,
        env: { KAFKA_BROKERS: first.brokers, REDIS_URL: first.redisUrl },
      });
      assert.equal(external.kafka.state, "external");
      assert.equal(external.redis.state, "external");
      assert.equal(external.brokers, first.brokers);
      assert.equal(existsSync(join(otherState, "kafka.json")), false);
    } finally {
      await rm(otherState, { recursive: true, force: true });
    }
  });

  test("asking the running stack for other ports is a conflict, not a second Kafka", async () => {
    const otherPort = await freePort();
    await assert.rejects(ensureStack({ ...options, kafkaPort: otherPort }), (error: unknown) => {
      assert.ok(error instanceof StackError);
      assert.equal(error.code, "conflict");
      assert.match(
        error.message,
        /already runs on 127\.0\.0\.1:\d+ .* run `sluice stack down` first/,
      );
      return true;
    });
  });

  test("another stack on the same ports is refused: the ports are taken, and by whom", async () => {
    const otherState = await mkdtemp(join(tmpdir(), "sluice-stack-it-busy-"));
    try {
      await assert.rejects(ensureStack({ ...options, stateDir: otherState }), (error: unknown) => {
        assert.ok(error instanceof StackError);
        assert.equal(error.code, "port_in_use");
        assert.match(
          error.message,
          /Kafka port 127\.0\.0\.1:\d+ is taken by a Kafka \(cluster \S+\) this stack did not start/,
        );
        assert.match(
          error.message,
          /Redis port 127\.0\.0\.1:\d+ is taken by a Redis this stack did not start/,
        );
        assert.match(error.message, /KAFKA_BROKERS=127\.0\.0\.1:\d+/);
        return true;
      });
    } finally {
      await rm(otherState, { recursive: true, force: true });
    }
  });

  test("down stops both gracefully and frees the ports; status then says stopped", async (t) => {
    const started = performance.now();
    const down = await stopStack(options);
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`down took ${seconds.toFixed(1)} s`);
    assert.deepEqual(down, { kafka: "stopped", redis: "stopped" });
    assert.equal(await isPortFree(options.kafkaPort ?? 0), true);
    assert.equal(await isPortFree(options.redisPort ?? 0), true);
    const status = await stackStatus(options);
    assert.equal(status.healthy, false);
    assert.equal(status.kafka.running, false);
    assert.equal(status.kafka.detail, "not started");
    assert.deepEqual(await stopStack(options), { kafka: "not-running", redis: "not-running" });
  });
});
