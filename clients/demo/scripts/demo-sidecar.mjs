#!/usr/bin/env node
// `npm run demo:sidecar`: the sidecar on its own. Starts it on the example model repository, shows
// the models and their versions, scores a normal and a suspicious transaction with the stable and
// the canary fraud model, runs a short burst of concurrent requests to show the dynamic batcher at
// work, then shuts the sidecar down gracefully. Runs from the built workspaces (`npm ci` builds
// them). `npm run demo` is the whole pipeline (demo.mjs beside this file).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));
/** The whole demo stops by itself after this, whatever happens. */
const DEMO_TIMEOUT_MS = 60_000;
const BURST_MS = 3_000;
const BURST_CLIENTS = 64;

let InferenceClient;
try {
  ({ InferenceClient } = await import("@sluice/client"));
} catch {
  console.error("error: the workspaces are not built: run `npm ci` (or `npm run build`) first");
  process.exit(1);
}

const cli = fileURLToPath(new URL("../../cli/bin/sluice.js", import.meta.url));
const server = spawn(
  process.execPath,
  [
    cli,
    "serve",
    "--model-repository",
    "examples/models",
    "--grpc-port",
    "0",
    "--metrics-port",
    "0",
    "--log-level",
    "info",
  ],
  { cwd: root, stdio: ["ignore", "inherit", "pipe"] },
);
const killTimer = setTimeout(() => {
  console.error("error: the demo did not finish in time; stopping");
  server.kill("SIGKILL");
  process.exit(1);
}, DEMO_TIMEOUT_MS);

/** Resolves with the ports from the sidecar's "sidecar ready" log line (JSON lines on stderr). */
const ready = new Promise((resolve, reject) => {
  server.once("exit", (code) => reject(new Error(`the sidecar exited early (code ${code})`)));
  createInterface({ input: server.stderr }).on("line", (line) => {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      process.stderr.write(`${line}\n`);
      return;
    }
    if (entry.msg === "sidecar ready")
      resolve({ grpcPort: entry.grpcPort, metricsPort: entry.metricsPort });
    else if (entry.level === "warn" || entry.level === "error")
      console.log(`  [sidecar] ${entry.msg}${entry.reason ? `: ${entry.reason}` : ""}`);
  });
});

/** A feature row in the layout of examples/models/README.md. */
function features({
  amount,
  accountAgeDays,
  tx5m,
  tx1h,
  tx24h,
  meanAmount24h,
  merchants1h,
  secsSincePrev,
  foreign,
  hour,
  channel,
  category,
}) {
  const row = new Float32Array(20);
  row[0] = Math.log1p(amount);
  row[1] = Math.log1p(accountAgeDays);
  row[2] = tx5m;
  row[3] = tx1h;
  row[4] = tx24h;
  row[5] = amount / Math.max(meanAmount24h, 1);
  row[6] = merchants1h;
  row[7] = Math.log1p(Math.min(secsSincePrev, 604_800));
  row[8] = foreign ? 1 : 0;
  row[9] = Math.sin((2 * Math.PI * hour) / 24);
  row[10] = Math.cos((2 * Math.PI * hour) / 24);
  row[11 + ["web", "mobile", "pos"].indexOf(channel)] = 1;
  const c = ["grocery", "restaurants", "fashion", "electronics", "travel", "digital_goods"].indexOf(
    category,
  );
  if (c >= 0) row[14 + c] = 1;
  return row;
}

const TRANSACTIONS = {
  "weekly groceries, at home, 18:10": features({
    amount: 42.5,
    accountAgeDays: 900,
    tx5m: 1,
    tx1h: 1,
    tx24h: 3,
    meanAmount24h: 38,
    merchants1h: 1,
    secsSincePrev: 14_400,
    foreign: false,
    hour: 18.17,
    channel: "pos",
    category: "grocery",
  }),
  "6th purchase in 5 min, abroad, 03:40": features({
    amount: 1890,
    accountAgeDays: 12,
    tx5m: 6,
    tx1h: 7,
    tx24h: 7,
    meanAmount24h: 610,
    merchants1h: 6,
    secsSincePrev: 25,
    foreign: true,
    hour: 3.67,
    channel: "web",
    category: "electronics",
  }),
};

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let client;
try {
  const { grpcPort, metricsPort } = await ready;
  const address = `127.0.0.1:${grpcPort}`;
  console.log(
    `\nSluice sidecar listening on ${address} (metrics on http://127.0.0.1:${metricsPort}/metrics)\n`,
  );
  client = new InferenceClient({ address });

  console.log("Models in the repository:");
  for (const model of await client.repositoryIndex()) {
    console.log(
      `  ${model.name.padEnd(10)} version ${model.version.padEnd(3)} ${model.state}${model.reason ? ` (${model.reason})` : ""}`,
    );
  }

  console.log(
    "\nP(fraud) per model version (label → version from examples/models/fraud/config.yaml):",
  );
  for (const [what, row] of Object.entries(TRANSACTIONS)) {
    const scores = [];
    for (const version of ["stable", "canary"]) {
      const result = await client.infer(
        "fraud",
        [{ name: "features", datatype: "FP32", shape: [1, 20], data: row }],
        { version },
      );
      scores.push(
        `${version} (v${result.modelVersion}) ${(result.output("probabilities").data[1] * 100).toFixed(1).padStart(5)} %`,
      );
    }
    console.log(`  ${what.padEnd(38)} ${scores.join("   ")}`);
  }

  console.log(
    `\nBurst: ${BURST_CLIENTS} concurrent clients sending single-row requests to fraud (canary) for ${BURST_MS / 1000} s...`,
  );
  const rows = Object.values(TRANSACTIONS);
  const latencies = [];
  const until = performance.now() + BURST_MS;
  await Promise.all(
    Array.from({ length: BURST_CLIENTS }, async (_, i) => {
      while (performance.now() < until) {
        const started = performance.now();
        await client.infer(
          "fraud",
          [{ name: "features", datatype: "FP32", shape: [1, 20], data: rows[i % rows.length] }],
          { version: "canary" },
        );
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((response) =>
    response.text(),
  );
  const series = (name) =>
    Number(
      metrics
        .split("\n")
        .find((line) => line.startsWith(`${name}{model="fraud",version="2"}`))
        ?.split(" ")[1] ?? NaN,
    );
  const meanBatch =
    series("sluice_inference_rows_total") / series("sluice_inference_executions_total");
  console.log(
    `  ${latencies.length} requests, ${(latencies.length / (BURST_MS / 1000)).toFixed(0)} requests/s`,
  );
  console.log(
    `  latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
  );
  console.log(`  the dynamic batcher ran ${meanBatch.toFixed(1)} rows per execution on average`);
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
} finally {
  client?.close();
  console.log("\nStopping the sidecar (SIGTERM: queued requests finish first)...");
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  const code = await exited;
  clearTimeout(killTimer);
  console.log(`sidecar exited with code ${code}`);
}
