/**
 * Sidecar benchmark: one run measures the ceilings and the sidecar, and prints ratios between them
 * (the machine is shared and noisy, so only figures taken in the same run are compared).
 *
 *   ort      in-process onnxruntime-node on the main thread, rows/s by batch size (compute ceiling)
 *   echo     a grpc-js server answering ModelInfer with a pre-encoded response (gRPC ceiling)
 *   sidecar  1-row requests at 1/16/64/256 clients, dynamic batching on and off
 *   rows     256-row requests from a few clients, against in-process ORT at batch 256
 *
 * Servers run in child processes; the load generator is closed-loop (N requests in flight).
 *
 *   node --conditions=source --import tsx bench/sidecar.bench.ts [--quick] [--only sidecar,rows]
 *        [--model fraud-mlp] [--clients 64] [--client grpc-js] [--cpu-prof <dir>]
 *        [--server-module <path to a server's src/index.ts>] [--verbose]
 *
 * See bench/README.md; results and their analysis are in docs/benchmarks.md.
 */
import { cp, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import {
  REPO_ROOT,
  SERVER_MODULE_ENV,
  cleanUp,
  cleanUpOnSignals,
  removeLater,
  startChild,
} from "./lib/child.js";
import { cpuShare, sampleCpu, type CpuSample } from "./lib/cpu-usage.js";
import { encodeFraudRequests, encodeFraudResponse } from "./lib/fraud-requests.js";
import { measureInProcess, type OrtPoint } from "./lib/in-process-ort.js";
import { PROFILE_ENV } from "./lib/main-thread-profile.js";
import { runClosedLoop } from "./lib/load.js";
import { CLIENT_KINDS, RawInferClients, type ClientKind } from "./lib/raw-client.js";
import { formatCheck, num, table } from "./lib/report.js";
import {
  CPU_HEADER,
  LOAD_HEADER,
  ROWS_HEADER,
  SIDECAR_HEADER,
  SIDECAR_LEGEND,
  cpuCells,
  loadCells,
  rowsCells,
  sidecarCells,
  type Point,
  type RowsRun,
  type SidecarPoint,
  type SidecarRun,
} from "./lib/results.js";
import { ortAt, targetChecks } from "./lib/targets.js";
import { breakdown, snapshot, type SidecarSnapshot } from "./lib/sidecar-probe.js";
import { commaList, helpAndExit } from "./lib/flags.js";

const SECTIONS = ["ort", "echo", "sidecar", "rows"] as const;
type Section = (typeof SECTIONS)[number];

interface BenchModel {
  readonly name: string;
  /** The version requests name, and whose file the in-process measurement loads. */
  readonly version: string;
}
/** fraud v2 (gradient-boosted trees, the newest version) and the deliberately heavy MLP. */
const MODELS: readonly BenchModel[] = [
  { name: "fraud", version: "2" },
  { name: "fraud-mlp", version: "1" },
];
const EXAMPLE_MODELS = join(REPO_ROOT, "examples/models");

const CLIENT_COUNTS = [1, 16, 64, 256];
const ORT_BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Rows per request in the `rows` section: the largest batch the fraud config accepts. */
const LARGE_REQUEST_ROWS = 256;
/** "A few" clients: enough to keep the instance busy while the next request is decoded. */
const LARGE_REQUEST_CLIENTS = 4;
/** Connections the load generator spreads its loops over, as that many client processes would. */
const MAX_CONNECTIONS = 4;

interface Durations {
  /** Timed `session.run` loop per batch size. */
  readonly ortMs: number;
  /** Unrecorded load before each window. */
  readonly warmupMs: number;
  /** Measured window per load point. */
  readonly windowMs: number;
  /** The whole run is killed past this, whatever hangs. */
  readonly maxRunMs: number;
}
/** ~6 s per load point keeps the full suite near 2.5 minutes; a 5 s window still holds thousands of requests. */
const FULL: Durations = { ortMs: 1000, warmupMs: 1000, windowMs: 5000, maxRunMs: 10 * 60_000 };
const QUICK: Durations = { ortMs: 250, warmupMs: 300, windowMs: 1500, maxRunMs: 5 * 60_000 };

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    model: { type: "string", multiple: true },
    clients: { type: "string" },
    client: { type: "string", default: "http2" },
    "cpu-prof": { type: "string" },
    "server-module": { type: "string" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
helpAndExit(flags.help, [
  "usage: node --conditions=source --import tsx bench/sidecar.bench.ts [--quick] [--only ort,echo,sidecar,rows]",
  "       [--model fraud|fraud-mlp] [--clients 1,16,64,256] [--client http2|grpc-js] [--cpu-prof <dir>]",
  "       [--server-module <path to a server index.ts>] [--verbose]",
]);
const only = commaList(flags.only) ?? [...SECTIONS];
for (const section of only) {
  if (!SECTIONS.includes(section as Section))
    throw new Error(`--only: expected sections among ${SECTIONS.join(", ")}, got "${section}"`);
}
const sections = new Set(only as Section[]);
const modelNames = commaList(flags.model) ?? MODELS.map((m) => m.name);
const models = MODELS.filter((m) => modelNames.includes(m.name));
if (models.length !== modelNames.length)
  throw new Error(
    `--model: expected names among ${MODELS.map((m) => m.name).join(", ")}, got ${modelNames.join(", ")}`,
  );
const clientCounts =
  commaList(flags.clients ? [flags.clients] : undefined)?.map(Number) ?? CLIENT_COUNTS;
if (!clientCounts.every((n) => Number.isInteger(n) && n > 0))
  throw new Error(`--clients: expected positive integers, got ${flags.clients}`);
const clientKind = flags.client as ClientKind;
if (!CLIENT_KINDS.includes(clientKind))
  throw new Error(`--client: expected one of ${CLIENT_KINDS.join(", ")}, got "${flags.client}"`);
const durations = flags.quick ? QUICK : FULL;
const profileDir = flags["cpu-prof"] === undefined ? undefined : resolve(flags["cpu-prof"]);
/** Another build of @sluice/server to benchmark (e.g. a patched copy), as a path to its index. */
const serverModule =
  flags["server-module"] === undefined ? undefined : resolve(flags["server-module"]);
if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });

const log = (text: string) => process.stdout.write(`${text}\n`);
const delayMicros = async (model: string): Promise<number> => {
  const config = parseYaml(await readFile(join(EXAMPLE_MODELS, model, "config.yaml"), "utf8")) as {
    dynamic_batching?: false | { max_queue_delay_microseconds?: number };
  };
  return config.dynamic_batching ? (config.dynamic_batching.max_queue_delay_microseconds ?? 0) : 0;
};

/** A temp repository holding one example model; with batching off its config says `dynamic_batching: false`. */
async function makeRepository(model: string, batching: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-"));
  removeLater(dir);
  await cp(join(EXAMPLE_MODELS, model), join(dir, model), { recursive: true });
  if (!batching) {
    const path = join(dir, model, "config.yaml");
    const config = parseYaml(await readFile(path, "utf8")) as Record<string, unknown>;
    await writeFile(path, stringifyYaml({ ...config, dynamic_batching: false }));
  }
  return dir;
}

/** Runs one closed-loop load point against a server child; reads its counters at the window's edges. */
async function loadPoint(
  clients: RawInferClients,
  requests: readonly Buffer[],
  concurrency: number,
  serverPid: number,
): Promise<Point>;
async function loadPoint(
  clients: RawInferClients,
  requests: readonly Buffer[],
  concurrency: number,
  serverPid: number,
  counters: () => Promise<SidecarSnapshot>,
): Promise<SidecarPoint>;
async function loadPoint(
  clients: RawInferClients,
  requests: readonly Buffer[],
  concurrency: number,
  serverPid: number,
  counters?: () => Promise<SidecarSnapshot>,
): Promise<Point | SidecarPoint> {
  let sent = 0;
  const snapshots: Partial<Record<"start" | "end", Promise<SidecarSnapshot>>> = {};
  const cpu: Partial<Record<"start" | "end", CpuSample>> = {};
  const load = await runClosedLoop({
    concurrency,
    warmupMs: durations.warmupMs,
    durationMs: durations.windowMs,
    send: async (loop) => {
      await clients.infer(loop, requests[sent++ % requests.length]!);
    },
    onWindow: (edge) => {
      cpu[edge] = sampleCpu(serverPid);
      if (counters === undefined) return;
      const read = counters();
      // Awaited below; handled here so a failure is not an unhandled rejection meanwhile.
      read.catch(() => undefined);
      snapshots[edge] = read;
    },
  });
  if (load.failed > 0) log(`  ! ${load.failed} requests failed, first: ${load.firstError}`);
  const point = { load, cpu: cpuShare(cpu.start!, cpu.end!) };
  if (counters === undefined) return point;
  return { ...point, window: breakdown(await snapshots.start!, await snapshots.end!) };
}

async function main(): Promise<void> {
  const ortVersion = (
    createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }
  ).version;
  log(
    `Sluice sidecar benchmark (${flags.quick ? "quick" : "full"}; sections: ${[...sections].join(", ")})`,
  );
  log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; node ${process.version}; onnxruntime-node ${ortVersion}`,
  );
  log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
  log(
    `window ${durations.windowMs} ms after ${durations.warmupMs} ms warm-up per load point; clients ${clientCounts.join(", ")}; ` +
      `load generator: ${clientKind} client over up to ${MAX_CONNECTIONS} connections` +
      `${serverModule ? `; server module ${serverModule}` : ""}\n`,
  );

  const ort = new Map<string, OrtPoint[]>();
  const echo: Point[] = [];
  let echoResponseBytes: number | undefined;
  let sidecarResponseBytes: number | undefined;
  const sidecar: SidecarRun[] = [];
  const rows: RowsRun[] = [];

  // 1a. Compute ceiling, with no child running.
  const ortSizes = sections.has("ort")
    ? ORT_BATCH_SIZES
    : sections.has("rows")
      ? [LARGE_REQUEST_ROWS]
      : [];
  if (ortSizes.length > 0) {
    for (const model of models) {
      const folder = join(EXAMPLE_MODELS, model.name);
      ort.set(
        model.name,
        await measureInProcess(
          join(folder, model.version, "model.onnx"),
          join(folder, "config.yaml"),
          ortSizes,
          durations.ortMs,
        ),
      );
    }
    log("== In-process onnxruntime-node (main thread, the sidecar's session options) ==");
    log(
      table([
        ["batch", ...models.flatMap((m) => [`${m.name} rows/s`, "ms/run"])],
        ...ortSizes.map((size) => [
          String(size),
          ...models.flatMap((m) => {
            const point = ort.get(m.name)!.find((p) => p.batchSize === size)!;
            return [num(point.rowsPerSecond, 0), num(point.msPerRun, 3)];
          }),
        ]),
      ]),
    );
    log("");
  }

  // 1b. gRPC ceiling.
  if (sections.has("echo")) {
    const server = await startChild<{ grpcPort: number; responseBytes: number }>(
      "bench/servers/echo-server.ts",
      [],
      {
        verbose: flags.verbose,
        env: profileDir ? { [PROFILE_ENV]: join(profileDir, "echo.cpuprofile") } : {},
      },
    );
    const clients = new RawInferClients(
      `127.0.0.1:${server.ready.grpcPort}`,
      MAX_CONNECTIONS,
      clientKind,
    );
    try {
      await clients.connect();
      echoResponseBytes = server.ready.responseBytes;
      const requests = encodeFraudRequests("fraud", "2", 1);
      for (const concurrency of clientCounts) {
        echo.push(await loadPoint(clients, requests, concurrency, server.pid));
      }
    } finally {
      clients.close();
      await server.stop();
    }
    log(`== gRPC echo server (child process; ${echoResponseBytes}-byte pre-encoded response) ==`);
    log(
      table([
        [...LOAD_HEADER, ...CPU_HEADER],
        ...echo.map((point) => [...loadCells(point.load), ...cpuCells(point.cpu)]),
      ]),
    );
    log("");
  }

  // 2 and 3. The sidecar, one child per model and batching mode.
  if (sections.has("sidecar") || sections.has("rows")) {
    for (const model of models) {
      for (const batching of sections.has("sidecar") ? [true, false] : [true]) {
        const repository = await makeRepository(model.name, batching);
        const profile = profileDir
          ? join(profileDir, `sidecar-${model.name}-batching-${batching ? "on" : "off"}.cpuprofile`)
          : undefined;
        const server = await startChild<{ grpcPort: number; metricsPort: number }>(
          "bench/servers/sidecar-server.ts",
          [repository],
          {
            verbose: flags.verbose,
            env: {
              ...(profile ? { [PROFILE_ENV]: profile } : {}),
              ...(serverModule ? { [SERVER_MODULE_ENV]: serverModule } : {}),
            },
          },
        );
        log(
          `-- sidecar ${model.name} v${model.version}, batching ${batching ? "on" : "off"}: pid ${server.pid}`,
        );
        const clients = new RawInferClients(
          `127.0.0.1:${server.ready.grpcPort}`,
          MAX_CONNECTIONS,
          clientKind,
        );
        const counters = () =>
          snapshot(clients, server.ready.metricsPort, model.name, model.version);
        try {
          await clients.connect();
          const requests = encodeFraudRequests(model.name, model.version, 1);
          const { bytes, response } = await clients.inferDecoded(requests[0]!);
          if (response.modelVersion !== model.version || response.outputs.length !== 2) {
            throw new Error(
              `${model.name}: expected version ${model.version} with 2 outputs, got version ${response.modelVersion} with ${response.outputs.length}`,
            );
          }
          if (model.name === "fraud") sidecarResponseBytes = bytes.length;
          if (sections.has("sidecar")) {
            for (const concurrency of clientCounts) {
              const point = await loadPoint(clients, requests, concurrency, server.pid, counters);
              sidecar.push({ model: model.name, batching, ...point });
              log(`   ${sidecarCells(model.name, batching, point).join("  ")}`);
            }
          }
          if (sections.has("rows") && batching) {
            const large = encodeFraudRequests(model.name, model.version, LARGE_REQUEST_ROWS);
            const point = await loadPoint(
              clients,
              large,
              LARGE_REQUEST_CLIENTS,
              server.pid,
              counters,
            );
            rows.push({ model: model.name, ...point });
            log(
              `   ${LARGE_REQUEST_ROWS}-row requests: ${num(point.load.requestsPerSecond * LARGE_REQUEST_ROWS, 0)} rows/s`,
            );
          }
        } finally {
          clients.close();
          await server.stop();
        }
      }
    }
    log("");
  }

  // The report.
  if (sidecar.length > 0) {
    log("== Sidecar, 1-row requests (child process) ==");
    log(
      table([SIDECAR_HEADER, ...sidecar.map((run) => sidecarCells(run.model, run.batching, run))]),
    );
    log(SIDECAR_LEGEND);
    if (sidecarResponseBytes !== undefined) {
      log(
        `1-row fraud response: sidecar ${sidecarResponseBytes} bytes, echo ${echoResponseBytes ?? encodeFraudResponse().length} bytes`,
      );
    }
    log("");
  }
  if (rows.length > 0) {
    log(
      `== ${LARGE_REQUEST_ROWS}-row requests, ${LARGE_REQUEST_CLIENTS} clients (batching on) vs in-process ORT at batch ${LARGE_REQUEST_ROWS} ==`,
    );
    log(
      table([
        ROWS_HEADER,
        ...rows.map((run) =>
          rowsCells(run, LARGE_REQUEST_ROWS, ortAt(ort, run.model, LARGE_REQUEST_ROWS)),
        ),
      ]),
    );
    log("");
  }

  log("== Targets ==");
  const checks = await targetChecks(
    { ort, echo, sidecar, rows },
    {
      models: models.map((m) => m.name),
      largeRequestRows: LARGE_REQUEST_ROWS,
      queueDelayMs: async (model) => (await delayMicros(model)) / 1000,
    },
  );
  for (const check of checks) log(formatCheck(check));
  log(
    `\nload average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
}

cleanUpOnSignals();
const watchdog = setTimeout(() => {
  process.stderr.write(`the benchmark ran past ${durations.maxRunMs} ms: stopping it\n`);
  cleanUp();
  process.exit(2);
}, durations.maxRunMs);
watchdog.unref();
try {
  await main();
} finally {
  cleanUp();
  clearTimeout(watchdog);
}
