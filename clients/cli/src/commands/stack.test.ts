import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "commander";
import { sluice as run } from "../test-kit.js";
import { portFlag } from "./stack.js";

const stateDir = await mkdtemp(join(tmpdir(), "sluice-cli-stack-"));
after(() => rm(stateDir, { recursive: true, force: true }));

describe("sluice stack --help", () => {
  test("each subcommand documents its flags and shows examples", async () => {
    for (const [sub, flags] of [
      ["up", ["--kafka-port <port>", "--redis-port <port>", "--timeout <ms>", "--state-dir <dir>"]],
      ["down", ["--timeout <ms>", "--purge"]],
      ["status", ["--json"]],
      ["fetch", ["--state-dir <dir>"]],
    ] as const) {
      const { code, out } = await run("stack", sub, "--help");
      assert.equal(code, 0, sub);
      for (const flag of flags) assert.ok(out.includes(flag), `${sub} --help lists ${flag}`);
      assert.match(out, new RegExp(`Examples:\\n  \\$ sluice stack ${sub}`), sub);
    }
    const { out } = await run("stack", "--help");
    assert.match(out, /Kafka 3\.9\.\d+ \(KRaft\) and Redis/);
    assert.match(out, /Commands:[\s\S]*up[\s\S]*down[\s\S]*status/);
  });

  test("up defaults to Kafka 9092 and Redis 6379", async () => {
    const { out } = await run("stack", "up", "--help");
    assert.match(
      out,
      /--kafka-port <port>\s+Kafka's client port on 127\.0\.0\.1 \(default: 9092\)/,
    );
    assert.match(out, /--redis-port <port>\s+Redis's port on 127\.0\.0\.1 \(default: 6379\)/);
  });
});

describe("argument parsing", () => {
  test("portFlag accepts 1-65535 and refuses the rest saying what came", () => {
    assert.equal(portFlag("--kafka-port")("19092"), 19092);
    for (const value of ["0", "65536", "x", "9092.5"]) {
      assert.throws(() => portFlag("--kafka-port")(value), InvalidArgumentError, value);
    }
    assert.throws(() => portFlag("--kafka-port")("x"), {
      message: 'expected a port from 1 to 65535, got "x"',
    });
  });

  test("a bad port is a usage error (exit 2) naming the flag, and starts nothing", async () => {
    const { code, err } = await run(
      "stack",
      "up",
      "--kafka-port",
      "99999",
      "--state-dir",
      stateDir,
    );
    assert.equal(code, 2);
    assert.match(
      err,
      /option '--kafka-port <port>' argument '99999' is invalid\. expected a port from 1 to 65535, got 99999/,
    );
  });

  test("the same port for both services is a usage error", async () => {
    const { code, err } = await run(
      "stack",
      "up",
      "--kafka-port",
      "7000",
      "--redis-port",
      "7000",
      "--state-dir",
      stateDir,
    );
    assert.equal(code, 2);
    assert.match(err, /error: kafkaPort and redisPort are both 7000: expected distinct ports/);
  });

  test("a malformed KAFKA_BROKERS is a usage error naming the variable", async () => {
    const saved = process.env["KAFKA_BROKERS"];
    process.env["KAFKA_BROKERS"] = "localhost";
    try {
      const { code, err } = await run("stack", "up", "--state-dir", stateDir);
      assert.equal(code, 2);
      assert.match(err, /KAFKA_BROKERS\[0\]: expected host:port, got "localhost"/);
    } finally {
      if (saved === undefined) delete process.env["KAFKA_BROKERS"];
      else process.env["KAFKA_BROKERS"] = saved;
    }
  });
});

describe("status and down with nothing running", () => {
  test("status prints both services as stopped and exits 3, with no error line", async () => {
    const { code, out, err } = await run("stack", "status", "--state-dir", stateDir);
    assert.equal(code, 3);
    assert.match(out, /^SERVICE\s+STATE\s+PID\s+ADDRESS\s+HEALTH\s+DETAIL$/m);
    assert.match(out, /^kafka\s+stopped\s+-\s+-\s+-\s+not started$/m);
    assert.match(out, /^redis\s+stopped\s+-\s+-\s+-\s+not started$/m);
    assert.equal(err, "");
  });

  test("status --json is machine-readable", async () => {
    const { out } = await run("stack", "status", "--json", "--state-dir", stateDir);
    const status = JSON.parse(out) as { healthy: boolean; kafka: { running: boolean } };
    assert.equal(status.healthy, false);
    assert.equal(status.kafka.running, false);
  });

  test("down is a no-op that says so", async () => {
    const { code, out } = await run("stack", "down", "--state-dir", stateDir);
    assert.equal(code, 0);
    assert.match(out, /^kafka\s+was not running$/m);
    assert.match(out, /^redis\s+was not running$/m);
  });
});
