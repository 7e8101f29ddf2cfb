#!/usr/bin/env node
// Builds what the tests need beside Node, before `npm test` runs them (its `pretest` script):
//   compat-java   the Java compatibility driver, with Maven      test/compat/prepare.sh
//   grpcurl       grpcurl, pinned, with Go                        test/compat/install-grpcurl.sh
//   deploy-tools  kubeconform, kustomize, promtool, deploycheck   test/deploy/prepare.sh
//                 and the Kubernetes schemas, with Go
// They run at once (Maven mostly waits on its downloads while Go compiles), each line of their
// progress prefixed with the task's name, and each says how long it took. A first run on a fresh
// machine takes minutes (Maven and Go fill their caches); later runs find everything built and
// take a second or two.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const TASKS = [
  { name: "compat-java", script: "test/compat/prepare.sh", what: "the Java compatibility driver" },
  { name: "grpcurl", script: "test/compat/install-grpcurl.sh", what: "grpcurl" },
  { name: "deploy-tools", script: "test/deploy/prepare.sh", what: "the deployment checks' tools" },
];

const log = (line) => process.stderr.write(`prepare: ${line}\n`);

function run({ name, script, what }) {
  const started = performance.now();
  const child = spawn("bash", [script], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  let built = false;
  createInterface({ input: child.stderr }).on("line", (line) => {
    // The scripts say "building …" only when something is out of date.
    if (/\bbuilding\b|\bgenerating\b/i.test(line)) built = true;
    process.stderr.write(`  [${name}] ${line}\n`);
  });
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (code === 0) log(`${what}: ${built ? `built in ${seconds} s` : "up to date"}`);
      else log(`${what}: FAILED after ${seconds} s (exit ${code}); its output is above`);
      resolve(code === 0);
    });
  });
}

log(`building what the tests need beside Node: ${TASKS.map((t) => t.name).join(", ")}`);
const started = performance.now();
const ok = await Promise.all(TASKS.map(run));
log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(ok.every(Boolean) ? 0 : 1);
