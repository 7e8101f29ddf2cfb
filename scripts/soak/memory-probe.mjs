/**
 * Preloaded into the soak's processes (`node --import`) when `npm run soak -- --diagnose DIR` is
 * given: every SLUICE_MEMORY_PROBE_MS (default 10 s) it appends the process's memory, split into
 * the V8 heap and what lives outside it, as one JSON line to DIR/<pid>.jsonl. RSS alone cannot
 * tell a JavaScript leak (heapUsed grows) from Buffers (arrayBuffers), native libraries such as
 * onnxruntime (RSS minus heapTotal minus external) or the allocator keeping freed pages.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";
import { getHeapSpaceStatistics } from "node:v8";

const dir = process.env.SLUICE_MEMORY_PROBE_DIR;
if (dir && isMainThread) {
  const file = join(dir, `${process.pid}.jsonl`);
  const started = Date.now();
  const role = process.argv.slice(2).find((arg) => !arg.startsWith("-") && !arg.includes("/"));
  const sample = () => {
    const memory = process.memoryUsage();
    const spaces = Object.fromEntries(
      getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]),
    );
    appendFileSync(
      file,
      JSON.stringify({
        pid: process.pid,
        role,
        atS: (Date.now() - started) / 1000,
        ...memory,
        spaces,
      }) + "\n",
    );
  };
  sample();
  setInterval(sample, Number(process.env.SLUICE_MEMORY_PROBE_MS ?? 10_000)).unref();
}
