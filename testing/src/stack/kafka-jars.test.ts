import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  KAFKA_POM,
  KAFKA_VERSION,
  ensureKafkaJars,
  hasKafkaJars,
  javaMajorVersion,
  kafkaLibDir,
} from "./kafka-jars.js";
import { StackError } from "./stack-error.js";

describe("the pinned Kafka version", () => {
  test("is the pom's kafka.version, on the 3.9 line that accepts kafkajs 2.2.4's versions", async () => {
    const pom = await readFile(KAFKA_POM, "utf8");
    assert.equal(/<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1], KAFKA_VERSION);
    assert.match(KAFKA_VERSION, /^3\.9\.\d+$/);
    assert.match(pom, /<artifactId>kafka_2\.13<\/artifactId>/);
  });
});

describe("javaMajorVersion", () => {
  test("reads both version schemes of `java -version`", () => {
    assert.equal(javaMajorVersion('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime'), 17);
    assert.equal(javaMajorVersion('java version "1.8.0_392"'), 8);
    assert.equal(javaMajorVersion('openjdk version "21" 2023-09-19'), 21);
    assert.equal(javaMajorVersion('openjdk version "11.0.2+9"'), 11);
    assert.equal(javaMajorVersion("command not found"), undefined);
  });
});

describe("the jar cache", () => {
  test("<cacheDir>/<version>/lib, complete only with the broker's jar in it", async () => {
    const cache = await mkdtemp(join(tmpdir(), "sluice-jars-"));
    try {
      const lib = kafkaLibDir(cache);
      assert.equal(lib, join(cache, KAFKA_VERSION, "lib"));
      assert.equal(await hasKafkaJars(lib), false);
      await mkdir(lib, { recursive: true });
      await writeFile(join(lib, "kafka-clients-x.jar"), "");
      assert.equal(await hasKafkaJars(lib), false);
      await writeFile(join(lib, `kafka_2.13-${KAFKA_VERSION}.jar`), "");
      assert.equal(await hasKafkaJars(lib), true);
      // Cached: no Maven run, no progress.
      const lines: string[] = [];
      assert.equal(
        await ensureKafkaJars({
          cacheDir: cache,
          timeoutMs: 1_000,
          progress: (l) => lines.push(l),
        }),
        lib,
      );
      assert.deepEqual(lines, []);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test("without mvn, says how to get it or what to use instead", async () => {
    const cache = await mkdtemp(join(tmpdir(), "sluice-jars-"));
    const path = process.env["PATH"];
    process.env["PATH"] = cache; // an empty folder: no mvn anywhere on it
    try {
      await assert.rejects(
        ensureKafkaJars({ cacheDir: cache, timeoutMs: 1_000, progress: () => undefined }),
        (error: unknown) => {
          assert.ok(error instanceof StackError);
          assert.equal(error.code, "missing_tool");
          assert.match(
            error.message,
            /^mvn is not on PATH: .*apt-get install -y maven.*KAFKA_BROKERS/,
          );
          return true;
        },
      );
    } finally {
      process.env["PATH"] = path;
      await rm(cache, { recursive: true, force: true });
    }
  });
});
