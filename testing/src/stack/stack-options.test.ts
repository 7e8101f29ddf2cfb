import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StackError } from "./stack-error.js";
import {
  DEFAULT_CACHE_DIR,
  DEFAULT_STATE_DIR,
  formatHostPort,
  parseBrokers,
  parsePort,
  parseRedisUrl,
  resolveStackOptions,
} from "./stack-options.js";

function invalid(message: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof StackError);
    assert.equal(error.code, "invalid_option");
    assert.equal(error.message, message);
    return true;
  };
}

describe("parsePort", () => {
  test("accepts 1-65535, refuses the rest saying what came", () => {
    assert.equal(parsePort("9092"), 9092);
    assert.equal(parsePort(" 1 "), 1);
    assert.equal(parsePort("65535"), 65535);
    for (const value of ["0", "65536", "-1", "9092.5", "abc", "", "1e3"]) {
      assert.throws(() => parsePort(value, "--kafka-port"), StackError, value);
    }
    assert.throws(
      () => parsePort("abc", "--kafka-port"),
      invalid('--kafka-port: expected a port from 1 to 65535, got "abc"'),
    );
    assert.throws(
      () => parsePort("70000", "--redis-port"),
      invalid("--redis-port: expected a port from 1 to 65535, got 70000"),
    );
  });
});

describe("resolveStackOptions", () => {
  test("fills every default: Kafka 9092, Redis 6379, state and cache in the repository", () => {
    const options = resolveStackOptions({ env: {} });
    assert.equal(options.kafkaPort, 9092);
    assert.equal(options.redisPort, 6379);
    assert.equal(options.kafkaControllerPort, undefined);
    assert.equal(options.stateDir, DEFAULT_STATE_DIR);
    assert.equal(options.cacheDir, DEFAULT_CACHE_DIR);
    assert.match(DEFAULT_STATE_DIR, /[/\\]\.sluice[/\\]stack$/);
    assert.match(DEFAULT_CACHE_DIR, /[/\\]\.cache[/\\]kafka$/);
    assert.equal(options.startTimeoutMs, 90_000);
    assert.equal(options.stopTimeoutMs, 20_000);
  });

  test("refuses bad ports and durations, naming the option", () => {
    assert.throws(
      () => resolveStackOptions({ kafkaPort: 0 }),
      invalid("kafkaPort: expected a port from 1 to 65535, got 0"),
    );
    assert.throws(
      () => resolveStackOptions({ kafkaPort: 7000, redisPort: 7000 }),
      invalid("kafkaPort and redisPort are both 7000: expected distinct ports"),
    );
    assert.throws(
      () => resolveStackOptions({ redisPort: 7001, kafkaControllerPort: 7001 }),
      invalid("redisPort and kafkaControllerPort are both 7001: expected distinct ports"),
    );
    assert.throws(
      () => resolveStackOptions({ startTimeoutMs: -5 }),
      invalid("startTimeoutMs: expected a positive number of milliseconds, got -5"),
    );
  });
});

describe("parseBrokers (KAFKA_BROKERS)", () => {
  test("host:port lists, IPv6 in brackets, blanks ignored", () => {
    assert.deepEqual(parseBrokers("127.0.0.1:9092"), [{ host: "127.0.0.1", port: 9092 }]);
    assert.deepEqual(parseBrokers(" a:1 , [::1]:2 ,"), [
      { host: "a", port: 1 },
      { host: "::1", port: 2 },
    ]);
    assert.equal(formatHostPort({ host: "::1", port: 2 }), "[::1]:2");
  });

  test("names the entry at fault", () => {
    assert.throws(
      () => parseBrokers("a:1,localhost"),
      invalid('KAFKA_BROKERS[1]: expected host:port, got "localhost"'),
    );
    assert.throws(
      () => parseBrokers(" , "),
      invalid('KAFKA_BROKERS: expected host:port[,host:port...], got " , "'),
    );
    assert.throws(
      () => parseBrokers("a:99999"),
      invalid("KAFKA_BROKERS[0] port: expected a port from 1 to 65535, got 99999"),
    );
  });
});

describe("parseRedisUrl (REDIS_URL)", () => {
  test("host, port (6379 by default) and credentials", () => {
    assert.deepEqual(parseRedisUrl("redis://127.0.0.1:16379"), { host: "127.0.0.1", port: 16379 });
    assert.deepEqual(parseRedisUrl("redis://cache/2"), { host: "cache", port: 6379 });
    assert.deepEqual(parseRedisUrl("redis://:p%40ss@[::1]:7000"), {
      host: "::1",
      port: 7000,
      password: "p@ss",
    });
    assert.deepEqual(parseRedisUrl("redis://user:pw@h:1"), {
      host: "h",
      port: 1,
      username: "user",
      password: "pw",
    });
  });

  test("refuses what the health check cannot use", () => {
    assert.throws(
      () => parseRedisUrl("127.0.0.1:6379"),
      invalid('REDIS_URL: expected redis://host:port, got "127.0.0.1:6379"'),
    );
    assert.throws(
      () => parseRedisUrl("rediss://h:1"),
      invalid(
        'REDIS_URL: expected the redis: scheme (TLS is not supported by the health check), got "rediss:"',
      ),
    );
    assert.throws(
      () => parseRedisUrl("not a url"),
      invalid('REDIS_URL: expected redis://host:port, got "not a url"'),
    );
  });
});
