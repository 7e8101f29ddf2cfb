#!/usr/bin/env node
// Runs the test suite with node's own test runner. Node 20 takes no globs, so this finds the files:
// unit tests beside the code (`<workspace>/src/**/*.test.ts`) and integration tests (`test/**/*.test.ts`).
// Arguments filter the files by substring: `npm test -- batching hot-swap`.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const roots = [
  "kit/src",
  "proto/src",
  "server/src",
  "clients/client/src",
  "consumer/src",
  "testing/src",
  "clients/demo/src",
  "clients/cli/src",
  "test",
];
// Most one test may take before the runner fails it: integration tests start real servers.
const TEST_TIMEOUT_MS = 180_000;

function find(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === "node_modules" || entry.name === "fixtures" ? [] : find(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((dir) => find(join(root, dir)))
  .map((file) => relative(root, file))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}

// Tests that need Kafka and Redis start the local stack (@sluice/testing/stack) on first use. A stack the
// tests started is stopped when they end, so the suite leaves no process behind; one that was
// already running (a developer's `sluice stack up`) is left alone. With KAFKA_BROKERS and REDIS_URL
// set the tests use those servers and start nothing.
const usesOwnStack = !process.env.KAFKA_BROKERS || !process.env.REDIS_URL;
let stack;
let stackRanBefore = true;
if (usesOwnStack) {
  try {
    stack = await import("@sluice/testing/stack");
    const before = await stack.stackStatus();
    stackRanBefore = before.kafka.running || before.redis.running;
  } catch (error) {
    console.error(
      `note: cannot read the local stack's state (${error.message}); build first with npm run build`,
    );
  }
}

const child = spawn(
  process.execPath,
  [
    "--conditions=source",
    // kafkajs (the selectable Kafka client, tested beside the default) computes a negative timeout
    // on Node.js 24, which Node runs as 1 ms and reports once per process (tulios/kafkajs#1751):
    // the same behaviour as on Node 20, so the line would only be noise in the report.
    "--disable-warning=TimeoutNegativeWarning",
    "--import",
    "tsx",
    "--test",
    // One file at a time: timing-sensitive batching tests share a 2-core machine with real servers.
    "--test-concurrency=1",
    // The usual report (spec on a terminal, TAP otherwise), then every skip named with its reason.
    `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
    "--test-reporter-destination=stdout",
    `--test-reporter=${join(root, "scripts/test-skips-reporter.mjs")}`,
    "--test-reporter-destination=stderr",
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
const [code, signal] = await new Promise((resolve) => child.on("exit", (...args) => resolve(args)));
if (stack !== undefined && !stackRanBefore) {
  const after = await stack.stackStatus().catch(() => undefined);
  if (after?.kafka.running || after?.redis.running) {
    await stack
      .stopStack()
      .catch((error) =>
        console.error(`warning: stopping the local stack failed: ${error.message}`),
      );
    console.error("stopped the local Kafka and Redis the tests started");
  }
}
process.exit(code ?? (signal ? 1 : 0));
