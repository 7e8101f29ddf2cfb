/**
 * Pipeline benchmark (issues 3 and 13): in one run on the same local broker, the same synthetic
 * fraud events through four consumers, each in its own child process:
 *
 *   passthrough  the pipeline's Kafka adapter consuming and producing the events unchanged: the limit
 *   sluice       the real Pipeline (@sluice/consumer) with examples/pipelines/fraud.yaml: stateful
 *                features in Redis, the fraud model on a real sidecar, at-least-once
 *   naive        one event at a time (kafkajs): decode, features (one Redis call), one ModelInfer,
 *                one produce awaited, one commit
 *   article      the plain Python consumer of "Real-Time Prediction Pipelines Using Kafka and
 *                Python" (bench/article): confluent-kafka, micro-batches of 100, the same 20
 *                features from per-user windows in memory, ONNX Runtime in-process; in a virtualenv
 *                made under .cache/ on first use, and checked against Sluice before it is measured
 *
 * passthrough and sluice run once per Kafka client of `--clients` (@platformatic/kafka, the
 * pipeline's default, and/or kafkajs), labelled `sluice/platformatic`, `passthrough/kafkajs`, …
 *
 * Each is measured at fixed offered rates (events/s and end-to-end p50/p95/p99, sustained or not)
 * and at its maximum rate (draining a preloaded backlog). Ratios between variants are printed at
 * the end; only figures of the same run are compared.
 *
 *   node --conditions=source --import tsx bench/pipeline.bench.ts [--quick]
 *        [--variants passthrough,sluice,naive,article] [--rates 1000,2000,5000] [--partitions 8]
 *        [--phases rates,max] [--linger <ms>] [--clients platformatic,kafkajs]
 *        [--consumers 1,2,4] [--broker-pid <pid>] [--cpu-prof <dir>] [--verbose]
 *
 * Uses the running Kafka and Redis (KAFKA_BROKERS / REDIS_URL, or the local stack); creates and
 * deletes its own topics, groups and Redis keys. See bench/README.md and docs/benchmarks.md.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { KAFKA_CLIENTS, type KafkaClientName } from "@sluice/consumer";
import { BenchRun, loadAverage, machineLine } from "./lib/bench-run.js";
import { REPO_ROOT, removeLater, startChild, type ChildServer } from "./lib/child.js";
import { sampleCpu, type CpuSample } from "./lib/cpu-usage.js";
import { PROFILE_ENV } from "./lib/main-thread-profile.js";
import { formatCheck } from "./lib/report.js";
import { checkArticle, checkPassed, describeCheck } from "./pipeline/article-check.js";
import { ARTICLE_SCRIPT, articlePython } from "./pipeline/article-python.js";
import { articleModel, homesOf, writeHomes } from "./pipeline/article-variant.js";
import type { BenchResources } from "./pipeline/bench-resources.js";
import { type TopicSet } from "./pipeline/bench-resources.js";
import { startEventSource } from "./pipeline/event-source.js";
import { OutputReader } from "./pipeline/output-reader.js";
import {
  CLIENT_LEGEND,
  RATE_LEGEND,
  STAGE_LEGEND,
  clientTable,
  cpuFigures,
  drainRate,
  maxTable,
  pipelineChecks,
  ratioTable,
  RATIO_LEGEND,
  rateTable,
  ratePoint,
  SCALE_OUT_LEGEND,
  scaleOutTable,
  stageTable,
  type EdgeSample,
  type MaxPoint,
  type RatePoint,
} from "./pipeline/pipeline-results.js";
import { RedisCpu } from "./pipeline/redis-cpu.js";
import type { StageReport } from "./pipeline/stage-times.js";
import {
  CLIENT_VARIANTS,
  VARIANTS,
  type Variant,
  type VariantRun,
  type VariantSettings,
} from "./pipeline/variant-settings.js";
import { commaList, helpAndExit } from "./lib/flags.js";

const DEFAULT_RATES = [1000, 2000, 5000];
/**
 * Partitions of every input topic: the pipeline handles up to 8 at once
 * (DEFAULT_PARTITION_CONCURRENCY), so each can have a micro-batch in flight.
 */
const DEFAULT_PARTITIONS = 8;
/** Distinct users: ten times the generator's default, so per-user windows stay short at 5k/s. */
const USERS = 10_000;
/** Extra warm-up per additional group member in the maximum phase (`--consumers`). */
const GROUP_SETTLE_MS = 1_500;
/** An unrecorded phase before the first fixed rate (JIT, connections, group settled). */
const WARMUP_RATE = 200;

interface Durations {
  /** Offered load before each fixed-rate window (not recorded). */
  readonly warmupMs: number;
  /** Measured window per fixed rate. */
  readonly windowMs: number;
  /** After the producer stops, how long the consumer gets to finish the phase's events. */
  readonly drainTimeoutMs: number;
  /** Backlog per variant for the maximum rate: a little more than `maxWindowMs` of its drain. */
  readonly backlog: Readonly<Record<Variant, number>>;
  /** From the first output of the backlog to the start of its measured window. */
  readonly maxWarmupMs: number;
  /** Longest measured drain window. */
  readonly maxWindowMs: number;
  /** The whole run is stopped past this, whatever hangs. */
  readonly maxRunMs: number;
}
/** About 5 minutes for the four variants at the three rates (naive stops after 1,000/s). */
const FULL: Durations = {
  warmupMs: 3_000,
  windowMs: 15_000,
  drainTimeoutMs: 10_000,
  // The passthrough on @platformatic/kafka drains 300,000 events in under 3 s: too short a window.
  backlog: { passthrough: 800_000, sluice: 400_000, naive: 10_000, article: 400_000 },
  maxWarmupMs: 2_000,
  maxWindowMs: 10_000,
  maxRunMs: 14 * 60_000,
};
/** About 3 minutes; noisier. */
const QUICK: Durations = {
  warmupMs: 1_000,
  windowMs: 5_000,
  drainTimeoutMs: 5_000,
  backlog: { passthrough: 400_000, sluice: 150_000, naive: 3_000, article: 150_000 },
  maxWarmupMs: 1_000,
  maxWindowMs: 4_000,
  maxRunMs: 7 * 60_000,
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    variants: { type: "string", multiple: true },
    rates: { type: "string", multiple: true },
    partitions: { type: "string", default: String(DEFAULT_PARTITIONS) },
    linger: { type: "string" },
    clients: { type: "string", multiple: true },
    phases: { type: "string", multiple: true },
    consumers: { type: "string", multiple: true },
    "broker-pid": { type: "string" },
    "cpu-prof": { type: "string" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
helpAndExit(flags.help, [
  "usage: node --conditions=source --import tsx bench/pipeline.bench.ts [--quick]",
  "       [--variants passthrough,sluice,naive,article] [--rates 1000,2000,5000] [--partitions 8]",
  "       [--phases rates,max] [--linger <ms>] [--clients platformatic,kafkajs]",
  "       [--consumers 1,2,4] [--broker-pid <pid>] [--cpu-prof <dir>] [--verbose]",
]);
const variants = (commaList(flags.variants) ?? [...VARIANTS]) as Variant[];
for (const variant of variants) {
  if (!VARIANTS.includes(variant))
    throw new Error(`--variants: expected names among ${VARIANTS.join(", ")}, got "${variant}"`);
}
const clients = (commaList(flags.clients) ?? ["platformatic"]) as KafkaClientName[];
for (const client of clients) {
  if (!KAFKA_CLIENTS.includes(client))
    throw new Error(`--clients: expected names among ${KAFKA_CLIENTS.join(", ")}, got "${client}"`);
}
/** Each variant on each client it runs on, in the order asked for. */
const runs: VariantRun[] = variants.flatMap((variant) =>
  CLIENT_VARIANTS.includes(variant)
    ? clients.map((client) => ({ variant, client, label: `${variant}/${client}` }))
    : [{ variant, client: "kafkajs" as const, label: variant }],
);
const rates = commaList(flags.rates)?.map(Number) ?? DEFAULT_RATES;
if (!rates.every((rate) => Number.isInteger(rate) && rate > 0))
  throw new Error(`--rates: expected positive integers, got ${flags.rates?.join(",")}`);
rates.sort((a, b) => a - b);
const partitions = Number(flags.partitions);
if (!Number.isInteger(partitions) || partitions < 1)
  throw new Error(`--partitions: expected a positive integer, got ${flags.partitions}`);
const PHASES = ["rates", "max"] as const;
const phases = commaList(flags.phases) ?? [...PHASES];
for (const phase of phases) {
  if (!PHASES.includes(phase as (typeof PHASES)[number]))
    throw new Error(`--phases: expected names among ${PHASES.join(", ")}, got "${phase}"`);
}
const lingerMs = flags.linger === undefined ? undefined : Number(flags.linger);
if (lingerMs !== undefined && !(Number.isInteger(lingerMs) && lingerMs >= 0))
  throw new Error(`--linger: expected an integer ≥ 0 (ms), got ${flags.linger}`);
const consumerCounts = commaList(flags.consumers)?.map(Number) ?? [1];
if (!consumerCounts.every((n) => Number.isInteger(n) && n >= 1))
  throw new Error(`--consumers: expected positive integers, got ${flags.consumers?.join(",")}`);
const brokerPid = flags["broker-pid"] === undefined ? undefined : Number(flags["broker-pid"]);
if (brokerPid !== undefined && !(Number.isInteger(brokerPid) && brokerPid > 0))
  throw new Error(`--broker-pid: expected a process id, got ${flags["broker-pid"]}`);
const durations = flags.quick ? QUICK : FULL;
const profileDir = flags["cpu-prof"] === undefined ? undefined : resolve(flags["cpu-prof"]);
if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });

const log = (text: string) => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The run's shared parts: the broker and Redis, the sidecar, the resources made for the run. */
interface Run {
  readonly brokers: string[];
  readonly redisUrl: string;
  readonly resources: BenchResources;
  readonly sidecar: ChildServer<{ grpcPort: number }> | undefined;
  readonly redisCpu: RedisCpu;
  /** The article variant's virtualenv python, when the article variant runs. */
  readonly python: string | undefined;
}

/** One variant consuming one topic set, with the reader of its output. */
interface Running {
  readonly variant: Variant;
  /** One child per group member (`--consumers`); stage times come from the first. */
  readonly consumers: readonly ChildServer<Record<string, never>>[];
  readonly reader: OutputReader;
  /** Asks the child for its stage times since the last ask (SIGUSR2); undefined if it does not answer. */
  stages(): Promise<StageReport | undefined>;
  stop(): Promise<void>;
}

/** A child that does not print its stage times within this is not waited for. */
const STAGES_TIMEOUT_MS = 3_000;

/**
 * The command of a variant's child: Node for all but the article, whose Python process also gets
 * the model file and the home countries of the users of `runIds` (the phases it will consume).
 */
async function variantCommand(
  run: Run,
  settings: VariantSettings,
  runIds: readonly string[],
): Promise<{ script: string; args: string[]; executable?: string }> {
  if (settings.variant !== "article" || run.python === undefined)
    return { script: "bench/servers/pipeline-consumer.ts", args: [JSON.stringify(settings)] };
  const model = await articleModel();
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-article-"));
  removeLater(dir);
  const homes = await writeHomes(dir, homesOf(runIds, USERS));
  return {
    script: ARTICLE_SCRIPT,
    args: [
      "run",
      JSON.stringify(settings),
      "--model",
      model.path,
      "--model-version",
      model.version,
      "--homes",
      homes,
    ],
    executable: run.python,
  };
}

async function startVariant(
  run: Run,
  { variant, client }: VariantRun,
  set: TopicSet,
  name: string,
  runIds: readonly string[],
  members = 1,
): Promise<Running> {
  const settings: VariantSettings = {
    variant,
    client,
    brokers: run.brokers,
    redisUrl: run.redisUrl,
    sidecar: `127.0.0.1:${run.sidecar?.ready.grpcPort ?? 0}`,
    topics: set,
    groupId: run.resources.group(name),
    keyPrefix: run.resources.keyPrefix,
    ...(lingerMs === undefined ? {} : { lingerMs }),
  };
  const reader = await OutputReader.start(
    run.brokers,
    set.output,
    run.resources.group(`${name}-reader`),
  );
  const waiting: ((report: StageReport) => void)[] = [];
  const consumers: ChildServer<Record<string, never>>[] = [];
  try {
    const command = await variantCommand(run, settings, runIds);
    // Members of one group, started together: the first one's stage times are reported.
    const started = await Promise.allSettled(
      Array.from({ length: members }, (_, member) => {
        const tag = members === 1 ? name : `${name}-${member + 1}`;
        return startChild<Record<string, never>>(command.script, command.args, {
          ...(command.executable === undefined ? {} : { executable: command.executable }),
          verbose: flags.verbose,
          env: profileDir ? { [PROFILE_ENV]: join(profileDir, `${tag}.cpuprofile`) } : {},
          onLine: (line) => {
            if (line.startsWith('{"benchStages"')) {
              if (member === 0)
                waiting.shift()?.((JSON.parse(line) as { benchStages: StageReport }).benchStages);
            } else if (flags.verbose) process.stderr.write(`[${tag}] ${line}\n`);
          },
        });
      }),
    );
    for (const outcome of started)
      if (outcome.status === "fulfilled") consumers.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const first = consumers[0]!;
    return {
      variant,
      consumers,
      reader,
      stages() {
        return new Promise((resolve) => {
          const timer = setTimeout(() => {
            waiting.splice(waiting.indexOf(answer), 1);
            resolve(undefined);
          }, STAGES_TIMEOUT_MS);
          const answer = (report: StageReport) => {
            clearTimeout(timer);
            resolve(report);
          };
          waiting.push(answer);
          process.kill(first.pid, "SIGUSR2");
        });
      },
      async stop() {
        await Promise.all(consumers.map((consumer) => consumer.stop()));
        await reader.stop();
      },
    };
  } catch (error) {
    await Promise.all(consumers.map((consumer) => consumer.stop().catch(() => {})));
    await reader.stop();
    throw error;
  }
}

/** CPU used so far by all of `pids` together (this process's own counted once). */
function sampleCpuOf(pids: readonly number[]): CpuSample {
  const samples = pids.map((pid) => sampleCpu(pid));
  const first = samples[0]!;
  return {
    at: first.at,
    serverMainMs: samples.reduce((sum, s) => sum + s.serverMainMs, 0),
    serverOtherMs: samples.reduce((sum, s) => sum + s.serverOtherMs, 0),
    clientMs: first.clientMs,
  };
}

/** Variants that call the sidecar: the others' CPU per event leaves its idle time out. */
const SIDECAR_VARIANTS: readonly Variant[] = ["sluice", "naive"];

/** CPU counters of the consumer, the sidecar (if the variant uses it) and Redis, taken together. */
async function sample(run: Run, running: Running): Promise<EdgeSample> {
  const redisMs = await run.redisCpu.usedMs();
  return {
    consumer: sampleCpuOf(running.consumers.map((consumer) => consumer.pid)),
    sidecar:
      run.sidecar && SIDECAR_VARIANTS.includes(running.variant)
        ? sampleCpu(run.sidecar.pid)
        : undefined,
    broker: brokerPid === undefined ? undefined : sampleCpu(brokerPid),
    redisMs,
  };
}

/** A window's edge: CPU counters, and the consumer's stage times since the previous edge. */
async function edge(
  run: Run,
  running: Running,
): Promise<{ sample: EdgeSample; stages: StageReport | undefined }> {
  const [stages, edgeSample] = await Promise.all([running.stages(), sample(run, running)]);
  return { sample: edgeSample, stages };
}

/**
 * Offers `rate` events/s for warm-up + window, waits for the consumer to finish them (up to the
 * drain timeout), and computes the window's figures.
 */
async function ratePhase(
  run: Run,
  running: Running,
  label: string,
  runId: string,
  topic: string,
  rate: number,
  windowMs: number,
): Promise<RatePoint> {
  const source = await startEventSource(
    {
      brokers: run.brokers,
      redisUrl: run.redisUrl,
      topic,
      rate,
      durationMs: durations.warmupMs + windowMs,
      runId,
      users: USERS,
    },
    flags.verbose,
  );
  // CPU and stage times over (about) the window: the producer starts a few hundred ms after it
  // says it is ready, so the window they cover starts and ends a little early.
  const edges: Partial<Record<"start" | "end", ReturnType<typeof edge>>> = {};
  const timers = [
    setTimeout(() => {
      edges.start = edge(run, running);
    }, durations.warmupMs),
    setTimeout(() => {
      edges.end = edge(run, running);
    }, durations.warmupMs + windowMs),
  ];
  let result;
  try {
    result = await source.result;
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
  const start = await (edges.start ?? edge(run, running));
  const end = await (edges.end ?? edge(run, running));
  await running.reader.waitFor(runId, result.produced, durations.drainTimeoutMs);
  const windowStart = result.startedAt + durations.warmupMs;
  return ratePoint(
    label,
    rate,
    running.reader.phase(runId),
    { start: windowStart, end: windowStart + windowMs },
    result.produced,
    cpuFigures(start.sample, end.sample),
    end.stages,
  );
}

/** Names of topics, groups and run ids: the label without its slash. */
const slug = (label: string) => label.replace("/", "-");

/** The fixed rates, lowest first, on one consumer; stops at the first rate it cannot sustain. */
async function fixedRates(run: Run, variantRun: VariantRun): Promise<RatePoint[]> {
  const { label } = variantRun;
  const name = `${slug(label)}-rates`;
  const set = await run.resources.topicSet(name, partitions);
  const warmupId = `${run.resources.prefix}-${slug(label)}-warmup`;
  const rateId = (rate: number) => `${run.resources.prefix}-${slug(label)}-${rate}`;
  // The article's process is told the phases it will consume (its home countries come from them).
  const running = await startVariant(run, variantRun, set, name, [warmupId, ...rates.map(rateId)]);
  const points: RatePoint[] = [];
  try {
    const warm = await ratePhase(run, running, label, warmupId, set.input, WARMUP_RATE, 0);
    if (warm.missing > 0) log(`  ${label}: ${warm.missing} warm-up events still not out; going on`);
    for (const rate of rates) {
      const runId = rateId(rate);
      const point = await ratePhase(
        run,
        running,
        label,
        runId,
        set.input,
        rate,
        durations.windowMs,
      );
      points.push(point);
      log(
        `  ${label} at ${rate}/s: ${Math.round(point.eventsPerSecond)} events/s, p50/p95/p99 ` +
          `${point.latency.p50}/${point.latency.p95}/${point.latency.p99} ms; sustained: ${point.verdict}`,
      );
      // A backlog left over would be measured as the next rate's latency; higher rates fare worse.
      if (!point.sustained) break;
    }
  } finally {
    await running.stop();
  }
  return points;
}

/**
 * Preloads a backlog, then starts the consumer (`members` of them in one group) and measures how
 * fast it drains it.
 */
async function maximum(run: Run, variantRun: VariantRun, members = 1): Promise<MaxPoint> {
  const label = members === 1 ? variantRun.label : `${variantRun.label} ×${members}`;
  const name = `${slug(variantRun.label)}-max${members === 1 ? "" : `-x${members}`}`;
  const set = await run.resources.topicSet(name, partitions);
  const runId = `${run.resources.prefix}-${name}`;
  const backlog = durations.backlog[variantRun.variant];
  const preloadStart = Date.now();
  const source = await startEventSource(
    {
      brokers: run.brokers,
      redisUrl: run.redisUrl,
      topic: set.input,
      count: backlog,
      runId,
      users: USERS,
    },
    flags.verbose,
  );
  const { produced } = await source.result;
  const preloadSeconds = (Date.now() - preloadStart) / 1000;
  const running = await startVariant(run, variantRun, set, name, [runId], members);
  try {
    const outputs = running.reader.phase(runId);
    const firstBy = Date.now() + 30_000;
    while (outputs.count === 0 && Date.now() < firstBy) await sleep(20);
    // Members that join one after another rebalance the group (the local broker has no initial
    // rebalance delay): a few seconds more for the group to settle before the window opens.
    await sleep(durations.maxWarmupMs + (members - 1) * GROUP_SETTLE_MS);
    const start = await edge(run, running);
    const drained = await running.reader.waitFor(runId, produced, durations.maxWindowMs);
    const end = await edge(run, running);
    // The reader lags the broker by up to a fetch: wait for the appends inside the window to arrive.
    await sleep(500);
    const rate = drainRate(outputs, durations.maxWarmupMs, durations.maxWindowMs);
    const point: MaxPoint = {
      variant: label,
      backlog: produced,
      eventsPerSecond: rate.eventsPerSecond,
      seconds: rate.seconds,
      drained,
      cpu: cpuFigures(start.sample, end.sample),
      stages: end.stages,
    };
    log(
      `  ${label} maximum: ${Math.round(point.eventsPerSecond)} events/s over ${point.seconds.toFixed(1)} s` +
        ` (backlog ${produced} written in ${preloadSeconds.toFixed(1)} s${drained ? ", drained" : ""})`,
    );
    return point;
  } finally {
    await running.stop();
  }
}

async function main(run: Run): Promise<void> {
  const ratePoints: RatePoint[] = [];
  const maxPoints: MaxPoint[] = [];
  for (const variantRun of runs) {
    log(`-- ${variantRun.label}`);
    if (phases.includes("rates")) ratePoints.push(...(await fixedRates(run, variantRun)));
    if (phases.includes("max")) {
      // More group members (--consumers) for the Sluice pipeline only: the scale-out curve.
      const counts = variantRun.variant === "sluice" ? consumerCounts : [1];
      for (const members of counts) maxPoints.push(await maximum(run, variantRun, members));
    }
  }
  log("");
  log(
    `== Fixed offered rates (${durations.windowMs / 1000} s window after ${durations.warmupMs / 1000} s) ==`,
  );
  log(rateTable(ratePoints));
  log(RATE_LEGEND);
  log("");
  log("== Maximum rate: draining a preloaded backlog ==");
  log(maxTable(maxPoints));
  log("");
  log("== Where the consumers' time went ==");
  log(
    stageTable([
      ...ratePoints.map((p) => ({ label: `${p.variant} ${p.rate}/s`, stages: p.stages })),
      ...maxPoints.map((p) => ({ label: `${p.variant} max`, stages: p.stages })),
    ]),
  );
  log(STAGE_LEGEND);
  log("");
  for (const { label } of runs) {
    const sustained = ratePoints.filter((p) => p.variant === label && p.sustained);
    const highest = sustained[sustained.length - 1];
    log(`highest fixed rate sustained by ${label}: ${highest ? `${highest.rate}/s` : "none"}`);
  }
  log("");
  const sluiceLabel = runs.find((r) => r.variant === "sluice")?.label ?? "sluice";
  // The drains by several group members are the scale-out curve, not variants to compare with.
  const scaled = maxPoints.filter((p) => p.variant.startsWith(`${sluiceLabel} ×`));
  const singleMaxPoints = maxPoints.filter((p) => !scaled.includes(p));
  if (scaled.length > 0) {
    log("== Scale-out: the same backlog drained by several members of one group ==");
    log(
      scaleOutTable(
        singleMaxPoints.find((p) => p.variant === sluiceLabel),
        scaled,
      ),
    );
    log(SCALE_OUT_LEGEND);
    log("");
  }
  log("== Sluice against the other variants (same run) ==");
  log(ratioTable(ratePoints, singleMaxPoints, sluiceLabel));
  log(RATIO_LEGEND);
  if (clients.length > 1) {
    log("== By Kafka client ==");
    log(clientTable(ratePoints, singleMaxPoints, clients));
    log(CLIENT_LEGEND);
  }
  log("");
  log("== Targets ==");
  for (const check of pipelineChecks(ratePoints, singleMaxPoints, clients)) log(formatCheck(check));
}

const run = new BenchRun(durations.maxRunMs);

const prefix = `bench-pipeline-${randomBytes(4).toString("hex")}`;
log(
  `Sluice pipeline benchmark (${flags.quick ? "quick" : "full"}; ${runs.map((r) => r.label).join(", ")}; ` +
    `rates ${rates.join(", ")}/s; ${partitions} partitions` +
    `${consumerCounts.length === 1 && consumerCounts[0] === 1 ? "" : `; Sluice drained by ${consumerCounts.join(", ")} consumers`}` +
    `${brokerPid === undefined ? "" : `; broker pid ${brokerPid}`}` +
    `${lingerMs === undefined ? "" : `; Sluice linger ${lingerMs} ms`}; run ${prefix})`,
);
log(machineLine());
log(`load average at start: ${loadAverage()}`);
try {
  const { brokers, redisUrl, resources } = await run.resources(prefix);
  let sidecar: ChildServer<{ grpcPort: number }> | undefined;
  if (variants.some((variant) => variant !== "passthrough")) {
    const repository = await mkdtemp(join(tmpdir(), "sluice-bench-"));
    removeLater(repository);
    await cp(join(REPO_ROOT, "examples/models/fraud"), join(repository, "fraud"), {
      recursive: true,
    });
    sidecar = await startChild<{ grpcPort: number }>(
      "bench/servers/sidecar-server.ts",
      [repository],
      { verbose: flags.verbose },
    );
  }
  log(
    `broker ${brokers.join(",")}; Redis ${redisUrl.replace(/\/\/[^@]*@/, "//")}; ` +
      `${USERS} users; sidecar ${sidecar ? `pid ${sidecar.pid}` : "not needed"}\n`,
  );
  let python: string | undefined;
  if (variants.includes("article") && sidecar !== undefined) {
    python = await articlePython(log, flags.verbose);
    // Its figures mean something only if it computes what Sluice computes.
    const check = await checkArticle(python, `127.0.0.1:${sidecar.ready.grpcPort}`);
    log(`${describeCheck(check)}\n`);
    if (!checkPassed(check))
      throw new Error(`the article variant disagrees with Sluice:\n${check.problems.join("\n")}`);
  }
  const redisCpu = new RedisCpu(redisUrl);
  await redisCpu.connect();
  try {
    await main({ brokers, redisUrl, resources, sidecar, redisCpu, python });
  } finally {
    redisCpu.close();
  }
  log(`\nload average at end: ${loadAverage()}`);
} finally {
  await run.finish();
}
