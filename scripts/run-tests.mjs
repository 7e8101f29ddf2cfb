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
  "proto/src",
  "server/src",
  "clients/client/src",
  "clients/stack/src",
  "clients/cli/src",
  "consumer/src",
  "test",
];
// A whole file may take this long before the runner fails it: integration files start real servers.
const FILE_TIMEOUT_MS = 180_000;

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

const child = spawn(
  process.execPath,
  [
    "--conditions=source",
    "--import",
    "tsx",
    "--test",
    // One file at a time: timing-sensitive batching tests share a 2-core machine with real servers.
    "--test-concurrency=1",
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
