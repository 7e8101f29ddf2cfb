/**
 * Kafka clients benchmark (issue 13): the same passthrough (bench/kafka-clients/) on kafkajs,
 * @platformatic/kafka and @confluentinc/kafka-javascript (through its KafkaJS-compatible layer and
 * its native API), one after the other, in one run on the same broker. One backlog of synthetic fraud events is written once; each client, in its own child
 * process and its own consumer group, drains all of it into its own output topic: consume, produce
 * the same bytes (idempotent, acks from all in-sync replicas), commit once acknowledged.
 *
 * Figures per client: events/s appended to its output over a window that opens 2 s after its first
 * output and closes when the backlog is out or 10 s later; CPU of its process over that window
 * (main thread and other threads, from /proc), as % of one core and µs per event; the time from
 * spawning the child to its first records, and to the whole backlog out and committed.
 *
 *   node --conditions=source --import tsx bench/kafka-clients.bench.ts
 *        [--clients kafkajs,platformatic,confluent,confluent-native] [--events 400000] [--partitions 8]
 *        [--verbose]
 *
 * Needs the clients of bench/kafka-clients/ installed (see bench/README.md), and Kafka and Redis
 * (KAFKA_BROKERS / REDIS_URL, or the local stack); creates and deletes its own topics and groups.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { BenchRun, loadAverage, machineLine } from "./lib/bench-run.js";
import { REPO_ROOT, startChild } from "./lib/child.js";
import { sampleCpu, type CpuSample } from "./lib/cpu-usage.js";
import { num, table } from "./lib/report.js";
import {
  parseClients,
  type ClientName,
  type PassthroughSettings,
} from "./kafka-clients/passthrough-settings.js";
import type { BenchResources } from "./pipeline/bench-resources.js";
import { startEventSource } from "./pipeline/event-source.js";
import { helpAndExit } from "./lib/flags.js";

/** Distinct users of the synthetic events, as the pipeline benchmark. */
const USERS = 10_000;
/** From a client's first output to the start of its measured window: connections, JIT, fetch sizes. */
const WARMUP_MS = 2_000;
/** Longest measured window. */
const WINDOW_MS = 10_000;
/** After the window, how long a client gets to finish the backlog and commit it. */
const DRAIN_TIMEOUT_MS = 60_000;
/** A client that has produced nothing this long after it is ready is given up on. */
const FIRST_OUTPUT_TIMEOUT_MS = 30_000;
/** How often the output's end offsets and the group's commits are read. */
const POLL_MS = 100;
/** fraud.yaml's session timeout. */
const SESSION_TIMEOUT_MS = 45_000;
const MAX_RUN_MS = 12 * 60_000;

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", multiple: true },
    events: { type: "string", default: "400000" },
    partitions: { type: "string", default: "8" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
helpAndExit(flags.help, [
  "usage: node --conditions=source --import tsx bench/kafka-clients.bench.ts",
  "       [--clients kafkajs,platformatic,confluent,confluent-native] [--events 400000]",
  "       [--partitions 8] [--verbose]",
]);
const clients = parseClients(flags.clients);
const events = Number(flags.events);
if (!Number.isInteger(events) || events < 10_000)
  throw new Error(`--events: expected an integer ≥ 10000, got ${flags.events}`);
const partitions = Number(flags.partitions);
if (!Number.isInteger(partitions) || partitions < 1)
  throw new Error(`--partitions: expected a positive integer, got ${flags.partitions}`);

const log = (text: string) => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The installed version of a client: kafkajs from the workspaces, the others from bench/kafka-clients/. */
function clientVersion(client: ClientName): string {
  const where = {
    kafkajs: "node_modules/kafkajs",
    platformatic: "bench/kafka-clients/node_modules/@platformatic/kafka",
    confluent: "bench/kafka-clients/node_modules/@confluentinc/kafka-javascript",
    "confluent-native": "bench/kafka-clients/node_modules/@confluentinc/kafka-javascript",
  }[client];
  try {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, where, "package.json"), "utf8")) as {
      name: string;
      version: string;
    };
    return `${manifest.name} ${manifest.version}`;
  } catch {
    return `${client}: not installed`;
  }
}

interface ClientResult {
  readonly client: ClientName;
  readonly eventsPerSecond: number;
  readonly windowSeconds: number;
  /** CPU of the client's process over the window, ms: main thread and the others. */
  readonly mainMs: number;
  readonly otherMs: number;
  readonly windowEvents: number;
  /** From spawning the child to its first records (s). */
  readonly firstRecordsSeconds: number;
  /** From spawning the child to every event out and its offset committed (s); NaN if not within the timeout. */
  readonly drainSeconds: number;
  /** Output records beyond the backlog (at-least-once duplicates), once drained. */
  readonly extra: number;
}

/** Records appended to `topic` so far: the sum of its partitions' end offsets. */
async function appended(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, { high }) => sum + Number(high), 0);
}

/** Offsets `groupId` has committed on `topic`, summed (uncommitted partitions count 0). */
async function committed(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).reduce(
    (sum, { offset }) => sum + Math.max(0, Number(offset)),
    0,
  );
}

/** Reads the output count and the child's CPU together: one edge of a window. */
async function edge(
  admin: Admin,
  topic: string,
  pid: number,
): Promise<{ at: number; count: number; cpu: CpuSample }> {
  const count = await appended(admin, topic);
  return { at: performance.now(), count, cpu: sampleCpu(pid) };
}

async function measure(
  run: { brokers: string[]; admin: Admin; resources: BenchResources; input: string },
  client: ClientName,
  backlog: number,
): Promise<ClientResult> {
  const { output } = await run.resources.topicSet(client, partitions);
  const settings: PassthroughSettings = {
    client,
    brokers: run.brokers,
    input: run.input,
    output,
    groupId: run.resources.group(client),
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
  };
  const spawnedAt = performance.now();
  let firstRecordsAt = NaN;
  const child = await startChild<Record<string, never>>(
    "bench/servers/kafka-client-passthrough.ts",
    [JSON.stringify(settings)],
    {
      verbose: flags.verbose,
      onLine: (line) => {
        if (line.startsWith('{"firstRecords"')) firstRecordsAt = performance.now();
        else if (flags.verbose) process.stderr.write(`[${client}] ${line}\n`);
      },
    },
  );
  try {
    const firstBy = performance.now() + FIRST_OUTPUT_TIMEOUT_MS;
    while ((await appended(run.admin, output)) === 0) {
      if (performance.now() > firstBy)
        throw new Error(`${client}: no output ${FIRST_OUTPUT_TIMEOUT_MS} ms after it was ready`);
      await sleep(POLL_MS);
    }
    await sleep(WARMUP_MS);
    const start = await edge(run.admin, output, child.pid);
    let end = start;
    while (end.count < backlog && end.at - start.at < WINDOW_MS) {
      await sleep(POLL_MS);
      end = await edge(run.admin, output, child.pid);
    }
    let drainedAt = NaN;
    const drainBy = performance.now() + DRAIN_TIMEOUT_MS;
    while (performance.now() < drainBy) {
      if ((await committed(run.admin, settings.groupId, run.input)) >= backlog) {
        drainedAt = performance.now();
        break;
      }
      await sleep(POLL_MS);
    }
    const seconds = (end.at - start.at) / 1000;
    const windowEvents = end.count - start.count;
    const result: ClientResult = {
      client,
      eventsPerSecond: windowEvents / seconds,
      windowSeconds: seconds,
      mainMs: end.cpu.serverMainMs - start.cpu.serverMainMs,
      otherMs: end.cpu.serverOtherMs - start.cpu.serverOtherMs,
      windowEvents,
      firstRecordsSeconds: (firstRecordsAt - spawnedAt) / 1000,
      drainSeconds: (drainedAt - spawnedAt) / 1000,
      extra: (await appended(run.admin, output)) - backlog,
    };
    log(
      `  ${client}: ${num(result.eventsPerSecond)} events/s over ${seconds.toFixed(1)} s; ` +
        `${Number.isNaN(drainedAt) ? "not drained" : `drained and committed ${result.drainSeconds.toFixed(1)} s after start`}`,
    );
    return result;
  } finally {
    await child.stop();
  }
}

function resultTable(results: readonly ClientResult[]): string {
  const perEvent = (ms: number, r: ClientResult) => (ms * 1000) / r.windowEvents;
  const percent = (ms: number, r: ClientResult) => ms / 10 / r.windowSeconds;
  return table([
    [
      "client",
      "events/s",
      "over s",
      "CPU %",
      "µs/event",
      "main µs",
      "other µs",
      "first records s",
      "drained s",
      "extra",
    ],
    ...results.map((r) => [
      r.client,
      num(r.eventsPerSecond),
      r.windowSeconds.toFixed(1),
      num(percent(r.mainMs + r.otherMs, r), 0),
      num(perEvent(r.mainMs + r.otherMs, r), 1),
      num(perEvent(r.mainMs, r), 1),
      num(perEvent(r.otherMs, r), 1),
      num(r.firstRecordsSeconds, 1),
      num(r.drainSeconds, 1),
      String(r.extra),
    ]),
  ]);
}

const LEGEND =
  "events/s: records appended to the client's output over the window (from 2 s after its first output until\n" +
  "the backlog is out or 10 s); CPU: the client's process over the window, % of one core, and per event: main\n" +
  "thread + other threads (librdkafka's, GC helpers); first records / drained: seconds from spawning the child\n" +
  "to its first records, and to every offset committed; extra: output records beyond the backlog.";

let admin: Admin | undefined;
const run = new BenchRun(MAX_RUN_MS);
run.onRelease(async () => admin?.disconnect());

const prefix = `bench-kafka-clients-${randomBytes(4).toString("hex")}`;
log(
  `Kafka clients benchmark (clients ${clients.join(", ")}; ${events} events; ${partitions} partitions; run ${prefix})`,
);
log(machineLine());
log(`clients: ${[...new Set(clients.map(clientVersion))].join("; ")}`);
log(`load average at start: ${loadAverage()}`);
try {
  const { brokers, redisUrl, resources } = await run.resources(prefix);
  admin = new Kafka({ clientId: prefix, brokers, logLevel: logLevel.WARN }).admin();
  await admin.connect();
  const { input } = await resources.topicSet("backlog", partitions);
  const preloadStart = performance.now();
  const source = await startEventSource(
    {
      brokers,
      redisUrl,
      topic: input,
      count: events,
      runId: `${prefix}-backlog`,
      users: USERS,
    },
    flags.verbose,
  );
  const { produced } = await source.result;
  log(
    `broker ${brokers.join(",")}; backlog of ${produced} events written in ` +
      `${((performance.now() - preloadStart) / 1000).toFixed(1)} s\n`,
  );
  const results: ClientResult[] = [];
  for (const client of clients)
    results.push(await measure({ brokers, admin, resources, input }, client, produced));
  log("");
  log("== Passthrough draining the backlog, by client ==");
  log(resultTable(results));
  log(LEGEND);
  log(`\nload average at end: ${loadAverage()}`);
} finally {
  await run.finish();
}
