/**
 * Consumer restart benchmark (issue 13): how long a pipeline's partitions stand still when its
 * process is killed (SIGKILL, as an OOM kill or a node loss would) and started again at once, per
 * Kafka client, with static group membership (KIP-345, `group.instance.id`) and without it.
 *
 * A steady stream of synthetic events (1,000/s over 8 partitions) runs throughout. For each client
 * and mode, in a fresh consumer group: a passthrough child (bench/kafka-clients/) starts and
 * consumes, is killed with SIGKILL after 3 s, and a new child with the same settings is spawned at
 * once. The figure is the time from that spawn to the new child's first records. Without static
 * membership the dead member holds its partitions until its session times out (fraud.yaml's 45 s);
 * with it, the new process takes over the dead member's identity and its partitions.
 *
 *   node --conditions=source --import tsx bench/consumer-restart.bench.ts
 *        [--clients kafkajs,platformatic,confluent,confluent-native] [--trials 3] [--dynamic|--no-dynamic] [--verbose]
 *
 * Needs the clients of bench/kafka-clients/ installed (see bench/README.md), and Kafka and Redis
 * (KAFKA_BROKERS / REDIS_URL, or the local stack); creates and deletes its own topics and groups.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { BenchRun, loadAverage, machineLine } from "./lib/bench-run.js";
import { startChild, type ChildServer } from "./lib/child.js";
import { num, table } from "./lib/report.js";
import {
  parseClients,
  type ClientName,
  type PassthroughSettings,
} from "./kafka-clients/passthrough-settings.js";
import type { BenchResources } from "./pipeline/bench-resources.js";
import { startEventSource } from "./pipeline/event-source.js";
import { helpAndExit } from "./lib/flags.js";

/** fraud.yaml's session timeout: how long a dead member without static membership holds on. */
const SESSION_TIMEOUT_MS = 45_000;
/** The events flowing while consumers are killed and restarted. */
const RATE = 1_000;
const USERS = 10_000;
const PARTITIONS = 8;
/** How long the first child consumes before it is killed. */
const RUN_BEFORE_KILL_MS = 3_000;
/** A restarted child that gets no records this long is given up on (well past a session timeout). */
const FIRST_RECORDS_TIMEOUT_MS = SESSION_TIMEOUT_MS + 30_000;
const MAX_RUN_MS = 20 * 60_000;
/** The issue's target for the time from restart to the first message. */
const TARGET_SECONDS = 3;

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", multiple: true },
    trials: { type: "string", default: "3" },
    dynamic: { type: "boolean", default: true },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
  allowNegative: true,
});
helpAndExit(flags.help, [
  "usage: node --conditions=source --import tsx bench/consumer-restart.bench.ts",
  "       [--clients kafkajs,platformatic,confluent,confluent-native] [--trials 3] [--dynamic|--no-dynamic] [--verbose]",
]);
const clients = parseClients(flags.clients);
const trials = Number(flags.trials);
if (!Number.isInteger(trials) || trials < 1)
  throw new Error(`--trials: expected a positive integer, got ${flags.trials}`);

const log = (text: string) => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Mode = "static" | "dynamic";

interface Restart {
  readonly client: ClientName;
  readonly mode: Mode;
  /** From spawning the replacement to its ready line (connected, subscribed, running), s. */
  readonly readySeconds: number;
  /** From spawning the replacement to its first records, s; NaN when none came in time. */
  readonly firstRecordsSeconds: number;
}

/** A passthrough child, with a promise of the time (performance.now()) of its first records. */
async function startPassthrough(settings: PassthroughSettings): Promise<{
  child: ChildServer<unknown>;
  spawnedAt: number;
  readyAt: number;
  first: Promise<number>;
}> {
  let resolveFirst!: (at: number) => void;
  const first = new Promise<number>((resolve) => (resolveFirst = resolve));
  const spawnedAt = performance.now();
  const child = await startChild<unknown>(
    "bench/servers/kafka-client-passthrough.ts",
    [JSON.stringify(settings)],
    {
      verbose: flags.verbose,
      onLine: (line) => {
        if (line.startsWith('{"firstRecords"')) resolveFirst(performance.now());
        else if (flags.verbose) process.stderr.write(`[${settings.client}] ${line}\n`);
      },
    },
  );
  return { child, spawnedAt, readyAt: performance.now(), first };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function restart(
  run: { brokers: string[]; resources: BenchResources; input: string; output: string },
  client: ClientName,
  mode: Mode,
  trial: number,
): Promise<Restart> {
  const groupId = run.resources.group(`${client}-${mode}-${trial}`);
  const settings: PassthroughSettings = {
    client,
    brokers: run.brokers,
    input: run.input,
    output: run.output,
    groupId,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    ...(mode === "static" ? { groupInstanceId: `${groupId}-member-0` } : {}),
  };
  const before = await startPassthrough(settings);
  try {
    if ((await within(before.first, FIRST_RECORDS_TIMEOUT_MS)) === undefined)
      throw new Error(`${client} (${mode}): the first child got no records`);
    await sleep(RUN_BEFORE_KILL_MS);
  } finally {
    process.kill(before.child.pid, "SIGKILL");
    await before.child.exited;
  }
  const after = await startPassthrough(settings);
  try {
    const firstAt = await within(after.first, FIRST_RECORDS_TIMEOUT_MS);
    const result: Restart = {
      client,
      mode,
      readySeconds: (after.readyAt - after.spawnedAt) / 1000,
      firstRecordsSeconds: firstAt === undefined ? NaN : (firstAt - after.spawnedAt) / 1000,
    };
    log(
      `  ${client} ${mode} #${trial + 1}: ready ${result.readySeconds.toFixed(2)} s, first records ` +
        `${Number.isNaN(result.firstRecordsSeconds) ? "none in time" : `${result.firstRecordsSeconds.toFixed(2)} s`} after the restart`,
    );
    return result;
  } finally {
    await after.child.stop();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

function restartTable(results: readonly Restart[]): string {
  const groups = new Map<string, Restart[]>();
  for (const result of results) {
    const key = `${result.client} ${result.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), result]);
  }
  return table([
    [
      "client",
      "membership",
      "trials",
      "ready s (median)",
      "first records s",
      "median",
      `≤ ${TARGET_SECONDS} s`,
    ],
    ...[...groups.values()].map((group) => {
      const firsts = group.map((r) => r.firstRecordsSeconds);
      return [
        group[0]!.client,
        group[0]!.mode,
        String(group.length),
        num(median(group.map((r) => r.readySeconds))),
        firsts.map((s) => num(s, 1)).join(" / "),
        num(median(firsts), 1),
        firsts.every((s) => s <= TARGET_SECONDS) ? "yes" : "no",
      ];
    }),
  ]);
}

const run = new BenchRun(MAX_RUN_MS);

const prefix = `bench-restart-${randomBytes(4).toString("hex")}`;
log(
  `Consumer restart benchmark (clients ${clients.join(", ")}; ${trials} trial(s) with static membership` +
    `${flags.dynamic ? ", 1 without" : ""}; session timeout ${SESSION_TIMEOUT_MS / 1000} s; run ${prefix})`,
);
log(machineLine());
log(`load average at start: ${loadAverage()}`);
try {
  const { brokers, redisUrl, resources } = await run.resources(prefix);
  const { input, output } = await resources.topicSet("events", PARTITIONS);
  // Runs past the last restart; stopped with the other children at the end.
  await startEventSource(
    {
      brokers,
      redisUrl,
      topic: input,
      rate: RATE,
      durationMs: MAX_RUN_MS,
      runId: `${prefix}-events`,
      users: USERS,
    },
    flags.verbose,
  );
  const results: Restart[] = [];
  for (const client of clients) {
    // kafkajs has no static membership.
    const modes: Mode[] = [
      ...(client === "kafkajs" ? [] : (["static"] as const)),
      ...(flags.dynamic ? (["dynamic"] as const) : []),
    ];
    for (const mode of modes) {
      const count = mode === "static" ? trials : 1;
      for (let trial = 0; trial < count; trial++)
        results.push(await restart({ brokers, resources, input, output }, client, mode, trial));
    }
  }
  log("");
  log("== Restart after SIGKILL: from spawning the replacement to its first records ==");
  log(restartTable(results));
  log(
    "ready: the replacement connected, subscribed and running (Node.js start and imports included);\n" +
      "first records: the first batch handed to its passthrough.",
  );
  log(`\nload average at end: ${loadAverage()}`);
} finally {
  await run.finish();
}
