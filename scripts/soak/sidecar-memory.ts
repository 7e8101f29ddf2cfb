/**
 * The sidecar alone under the consumer's kind of load, to tell where its memory goes: `sluice serve`
 * with the example fraud model, fed ModelInfer calls of 1-64 rows (a micro-batch's) at `--rate`
 * rows per second, its RSS sampled every 10 s. Environment variables (MALLOC_ARENA_MAX, ...) reach
 * the sidecar as they are; with SLUICE_MEMORY_PROBE_DIR and the probe preloaded (see soak.ts
 * --diagnose) it writes its heap split too.
 *
 *   node --conditions=source --import tsx scripts/soak/sidecar-memory.ts --minutes 3 --rate 2000
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { InferenceClient } from "@sluice/client";
import { EXAMPLE_MODELS, freePort, makeRepository, runCli, stopCli } from "@sluice/testing";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "3" },
    rate: { type: "string", default: "2000" },
    version: { type: "string", default: "stable" },
  },
});
const minutes = Number(flags.minutes);
const rate = Number(flags.rate);
if (!(minutes > 0)) throw new Error(`--minutes: expected a positive number, got ${flags.minutes}`);
if (!(rate > 0)) throw new Error(`--rate: expected rows per second > 0, got ${flags.rate}`);

async function rssMb(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
const port = await freePort();
const sidecar = runCli([
  ...["serve", "--model-repository", repository.dir],
  ...["--grpc-port", String(port), "--metrics-port", "-1"],
]);
const client = new InferenceClient({ address: `127.0.0.1:${port}` });
try {
  await sidecar.line(/"msg":"sidecar ready"/, 60_000);
  const started = performance.now();
  const endAt = started + minutes * 60_000;
  let rows = 0;
  let calls = 0;
  let nextSample = started + 10_000;
  const series: string[] = [];
  while (performance.now() < endAt) {
    const n = 1 + Math.floor(Math.random() * 64);
    const data = new Float32Array(n * 20).map(() => Math.random());
    await client.infer("fraud", [{ name: "features", datatype: "FP32", shape: [n, 20], data }], {
      version: flags.version,
    });
    rows += n;
    calls++;
    // Paced to `rate` rows per second on average.
    const due = started + (rows / rate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (performance.now() >= nextSample) {
      nextSample += 10_000;
      const at = Math.round((performance.now() - started) / 1000);
      series.push(`${at}:${(await rssMb(sidecar.child.pid)).toFixed(0)}`);
      process.stdout.write(
        `  ${at} s: sidecar ${series.at(-1)!.split(":")[1]} MB, ${calls} calls\n`,
      );
    }
  }
  process.stdout.write(`rss series (s:MB): ${series.join(" ")}\n`);
} finally {
  client.close();
  await stopCli(sidecar);
  await repository.remove();
}
