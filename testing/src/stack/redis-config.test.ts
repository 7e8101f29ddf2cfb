import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { redisConf } from "./redis-config.js";

describe("redisConf", () => {
  const conf = redisConf({ port: 16379, dir: '/tmp/a "b"\\c' });

  test("loopback only, on the port asked, in the foreground (the stack detaches it)", () => {
    assert.match(conf, /^bind 127\.0\.0\.1$/m);
    assert.match(conf, /^port 16379$/m);
    assert.match(conf, /^protected-mode yes$/m);
    assert.match(conf, /^daemonize no$/m);
  });

  test("no persistence: no RDB snapshots, no AOF", () => {
    assert.match(conf, /^save ""$/m);
    assert.match(conf, /^appendonly no$/m);
  });

  test("the dir is quoted with C-style escapes", () => {
    assert.match(conf, /^dir "\/tmp\/a \\"b\\"\\\\c"$/m);
  });
});
