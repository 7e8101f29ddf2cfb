/**
 * `npm run chaos`: the long fault cases on the real parts (Kafka, Redis, the sidecar `sluice serve`,
 * `sluice consume`, all as processes) under a steady load from `sluice produce`, each bounded in
 * time, each judged by the counts read back from the topics with read_committed (`sluice verify`).
 * The quick versions of some run in `npm test` (test/pipeline-recovery.test.ts and others); these
 * repeat them enough to catch what a rare interleaving does. docs/reliability.md has the results.
 *
 *   npm run chaos                                   # every case, about 10 minutes on a quiet machine
 *   npm run chaos -- --case consumer-sigkill-eos --kills 10 --seed 7
 *
 * Cases, each as <kind>-alo (at_least_once: 0 lost, duplicates counted) and <kind>-eos
 * (exactly_once: 0 lost and 0 duplicated):
 *   consumer-sigkill  `--kills` SIGKILLs of the consumer at random moments, each followed by a
 *                     restart with the same group instance id
 *   sidecar-sigkill   3 SIGKILLs of the sidecar with micro-batches in flight, each restarted
 *   sidecar-sigstop   the sidecar frozen with SIGSTOP for 10 s, then SIGCONT
 *   redis-sigkill     3 SIGKILLs of a Redis of the run's own (append-only file), each restarted
 *   broker-sigstop    a broker of the run's own frozen with SIGSTOP for 20 s, then SIGCONT
 *   rebalance         a second consumer joins and leaves the group twice
 *
 * Uses KAFKA_BROKERS / REDIS_URL, or the local stack: started if it is not running, and then
 * stopped at the end. The Redis and broker cases start their own on free ports, and stop them.
 * Exit status 0 when every case holds, 1 otherwise.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { ensureStack, stopStack, type StackOptions } from "@sluice/testing/stack";
import {
  configFolder,
  EXAMPLE_MODELS,
  freePort,
  makeRepository,
  prng,
  startTestKafka,
  startTestRedis,
  type TestKafka,
  type TestRedis,
} from "@sluice/testing";
import { CHAOS_CASES, type CaseContext, type ChaosCase } from "./chaos-cases.js";
import { ChaosRun, startsOwnStack, type ChaosParts, type ChaosResult } from "./chaos-run.js";

const GUARANTEES = { alo: "at_least_once", eos: "exactly_once" } as const;
const CASES = CHAOS_CASES.flatMap((c) => [`${c.kind}-alo`, `${c.kind}-eos`]);

const { values: flags } = parseArgs({
  options: {
    case: { type: "string", multiple: true },
    kills: { type: "string", default: "10" },
    seed: { type: "string", default: String(Date.now() % 100_000) },
    rate: { type: "string", default: "250" },
  },
});
const cases = flags.case ?? CASES;
for (const name of cases) {
  if (!CASES.includes(name))
    throw new Error(`--case: expected one of ${CASES.join(", ")}, got "${name}"`);
}
const kills = Number(flags.kills);
const seed = Number(flags.seed);
const rate = Number(flags.rate);

function caseOf(name: string): { chaos: ChaosCase; guarantee: keyof typeof GUARANTEES } {
  const guarantee = name.slice(-3) as keyof typeof GUARANTEES;
  return { chaos: CHAOS_CASES.find((c) => c.kind === name.slice(0, -4))!, guarantee };
}

/** A broker of the run's own, to freeze without touching the one others use. */
interface OwnBroker {
  readonly kafka: TestKafka;
  readonly pid: number;
  stop(): Promise<void>;
}

async function ownBroker(redisUrl: string): Promise<OwnBroker> {
  const stateDir = await mkdtemp(join(tmpdir(), "sluice-chaos-broker-"));
  const stack: StackOptions = {
    kafkaPort: await freePort(),
    stateDir,
    env: { REDIS_URL: redisUrl },
    progress: () => {},
  };
  const up = await ensureStack(stack);
  const kafka = await startTestKafka(stack);
  return {
    kafka,
    pid: up.kafka.pid!,
    async stop() {
      await kafka.close();
      await stopStack({ ...stack, purge: true });
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

const ownStack = await startsOwnStack();
const files = await configFolder();
const repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
const results: ChaosResult[] = [];
const random = prng(seed);
let kafka: TestKafka | undefined;
let sharedRedis: Redis | undefined;
let redis: TestRedis | undefined;
let broker: OwnBroker | undefined;
process.stdout.write(`chaos: cases ${cases.join(", ")}; ${kills} consumer kills; seed ${seed}\n`);
try {
  kafka = await startTestKafka();
  sharedRedis = new Redis(kafka.redisUrl);
  for (const name of cases) {
    const { chaos, guarantee } = caseOf(name);
    let parts: ChaosParts = {
      kafka,
      redisUrl: kafka.redisUrl,
      redis: sharedRedis,
      modelRepository: repository.dir,
    };
    if (chaos.needs === "own-redis") {
      redis ??= await startTestRedis({ own: true, persistent: true });
      parts = { ...parts, redisUrl: redis.url, redis: redis.client };
    }
    if (chaos.needs === "own-broker") {
      broker ??= await ownBroker(kafka.redisUrl);
      parts = { ...parts, kafka: broker.kafka };
    }
    const context: CaseContext = {
      random,
      rate,
      seed,
      kills,
      ...(redis === undefined ? {} : { redis }),
      ...(broker === undefined ? {} : { brokerPid: broker.pid }),
    };
    const events = Math.round(rate * chaos.loadSeconds(context));
    const run = new ChaosRun(name, GUARANTEES[guarantee], parts, files, { events, rate, seed });
    let ok = false;
    try {
      await run.setup();
      await chaos.inject(run, context);
      const result = await run.finish();
      results.push(result);
      ok = result.ok;
      process.stdout.write(
        `  ${name}: ${result.ok ? "ok" : "FAILED"}${result.notes.length > 0 ? ` (${result.notes.join("; ")})` : ""}\n`,
      );
    } finally {
      await run.close(!ok);
    }
  }
} finally {
  await files.remove();
  await repository.remove();
  await redis?.stop();
  await broker?.stop();
  sharedRedis?.disconnect();
  await kafka?.close();
  if (ownStack) await stopStack();
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : "-";
}

process.stdout.write(
  "\n| case | guarantee | events | faults | lost | duplicated | dead letters | recovery (median / max) | longest stall | verdict | took |\n" +
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: |\n",
);
for (const r of results) {
  const recovery =
    r.recoveryMs.length === 0
      ? "-"
      : `${seconds(median(r.recoveryMs))} / ${seconds(Math.max(...r.recoveryMs))} s`;
  process.stdout.write(
    `| ${r.name} | ${r.delivery} | ${r.events} | ${r.faults} | ${r.lost} | ${r.duplicated} | ${r.deadLetters} | ${recovery} | ${seconds(r.longestStallMs)} s | ${r.ok ? "ok" : "FAILED"} | ${Math.round(r.seconds)} s |\n`,
  );
}
process.stdout.write(
  "\nlost: inputs with neither a prediction nor a dead letter; duplicated: ids predicted more than once\n" +
    "(read_committed); recovery: from a fault's end (a restart's spawn, a SIGCONT) to the next new\n" +
    "output record; longest stall: the longest time the output grew by nothing while the load ran.\n",
);
process.exit(results.length === cases.length && results.every((r) => r.ok) ? 0 : 1);
