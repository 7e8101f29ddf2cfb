/**
 * `npm run chaos`: the long fault cases on the real parts (Kafka, Redis, the sidecar, `sluice
 * consume` as processes), each bounded in time, each judged by the counts read back from the topics
 * with read_committed (`sluice verify`). The quick versions of the same cases run in `npm test`
 * (test/pipeline-recovery.test.ts); these repeat them enough to catch what a rare interleaving does.
 *
 *   npm run chaos                                   # every case, about 3 minutes
 *   npm run chaos -- --case consumer-sigkill-eos --kills 10 --seed 7
 *
 * Cases:
 *   consumer-sigkill-alo  at-least-once: `--kills` SIGKILLs of the consumer at random moments under
 *                         load, each followed by a restart with the same group instance id.
 *                         0 lost; duplicates counted and reported (replays of uncommitted work).
 *   consumer-sigkill-eos  the same with exactly_once: 0 lost and 0 duplicated.
 *
 * Uses KAFKA_BROKERS / REDIS_URL, or the local stack: started if it is not running, and then
 * stopped at the end.
 * Exit status 0 when every case holds, 1 otherwise.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { VerifyReport } from "@sluice/demo";
import { stackStatus, stopStack } from "@sluice/testing/stack";
import {
  configFolder,
  fraudDocument,
  PipelineHarness,
  prng,
  runCli,
  stopCli,
  waitFor,
  type CliProcess,
  type ConfigFolder,
} from "@sluice/testing";

const CASES = ["consumer-sigkill-alo", "consumer-sigkill-eos"] as const;
type CaseName = (typeof CASES)[number];

const { values: flags } = parseArgs({
  options: {
    case: { type: "string", multiple: true },
    kills: { type: "string", default: "10" },
    seed: { type: "string", default: String(Date.now() % 100_000) },
    rate: { type: "string", default: "250" },
  },
});
const cases = (flags.case ?? [...CASES]) as CaseName[];
for (const name of cases) {
  if (!CASES.includes(name))
    throw new Error(`--case: expected one of ${CASES.join(", ")}, got "${name}"`);
}
const kills = Number(flags.kills);
const seed = Number(flags.seed);
const rate = Number(flags.rate);

/** A cold `node --import tsx` of the CLI plus joining the group. */
const START_TIMEOUT_MS = 30_000;
const CONSUMING = /pipeline \\"fraud\\" consuming/;
/** Each kill lands this long after the consumer joined, at random: from just after to well into steady work. */
const KILL_AFTER_MS = { min: 300, max: 3_000 };

interface CaseResult {
  readonly name: CaseName;
  readonly events: number;
  readonly kills: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly deadLetters: number;
  /** From each restart's spawn to the first new record on the output topic, ms. */
  readonly recoveryMs: number[];
  readonly ok: boolean;
  readonly seconds: number;
}

async function sigkillCase(
  name: CaseName,
  h: PipelineHarness,
  files: ConfigFolder,
  random: () => number,
): Promise<CaseResult> {
  const started = Date.now();
  const delivery = name === "consumer-sigkill-eos" ? "exactly_once" : "at_least_once";
  const { topics, settings } = await h.setup(3, { maxEvents: 16, delivery });
  const file = await files.write(`${name}-${randomUUID()}.yaml`, await fraudDocument(settings));
  const instanceId = `chaos-${randomUUID().slice(0, 8)}`;
  // Enough load to outlast the kills: each costs a restart (~1.5-3 s) and the wait before it.
  const events = Math.round(rate * (kills * 3.5 + 5));
  const processes: CliProcess[] = [];
  const cli = (args: string[]) => {
    const process = runCli(args);
    processes.push(process);
    return process;
  };
  try {
    const produce = cli([
      ...["produce", "--config", file, "--rate", String(rate), "--count", String(events)],
      ...["--malformed-ratio", "0.02", "--users", "200", "--seed", String(seed)],
    ]);
    const recoveryMs: number[] = [];
    let consumer = cli(["consume", "--config", file, "--instance-id", instanceId]);
    await consumer.line(CONSUMING, START_TIMEOUT_MS);
    for (let kill = 1; kill <= kills; kill++) {
      const wait = KILL_AFTER_MS.min + random() * (KILL_AFTER_MS.max - KILL_AFTER_MS.min);
      await new Promise((resolve) => setTimeout(resolve, wait));
      consumer.child.kill("SIGKILL");
      await consumer.exited;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = await h.kafka.admin.written(topics.out);
      const spawnedAt = performance.now();
      consumer = cli(["consume", "--config", file, "--instance-id", instanceId]);
      await consumer.line(CONSUMING, START_TIMEOUT_MS);
      // With nothing left to produce a restart has nothing to predict: no figure then.
      await waitFor(
        "a new output record",
        async () => (await h.kafka.admin.written(topics.out)) > before,
        { timeoutMs: 10_000, intervalMs: 20 },
      ).then(
        () => recoveryMs.push(performance.now() - spawnedAt),
        () => {},
      );
      process.stdout.write(`  ${name}: kill ${kill}/${kills} after ${Math.round(wait)} ms\n`);
    }
    const produced = await produce.exited;
    if (produced.code !== 0) throw new Error(`sluice produce failed:\n${produce.lines.join("\n")}`);
    const verify = cli([
      ...["verify", "--config", file, "--expect", String(events), "--timeout", "120", "--json"],
    ]);
    if ((await verify.exited).code !== 0 && verify.stdout() === "")
      throw new Error(`sluice verify failed:\n${verify.lines.join("\n")}`);
    const report = JSON.parse(verify.stdout()) as VerifyReport;
    const duplicated = Object.keys(report.duplicates).length;
    const lost = report.missing.length;
    const accounted = report.predicted + report.deadLetters === events;
    const ok =
      report.complete &&
      lost === 0 &&
      (delivery === "at_least_once" || (duplicated === 0 && accounted));
    consumer.child.kill("SIGTERM");
    await consumer.exited;
    return {
      name,
      events,
      kills,
      lost,
      duplicated,
      deadLetters: report.deadLetters,
      recoveryMs,
      ok,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await Promise.all(processes.map(stopCli));
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
}

const ownStack =
  !process.env["KAFKA_BROKERS"] || !process.env["REDIS_URL"]
    ? !(await stackStatus()).kafka.running
    : false;
const h = new PipelineHarness();
const files = await configFolder();
const results: CaseResult[] = [];
process.stdout.write(`chaos: cases ${cases.join(", ")}; ${kills} kills each; seed ${seed}\n`);
try {
  await h.start();
  const random = prng(seed);
  for (const name of cases) results.push(await sigkillCase(name, h, files, random));
} finally {
  await files.remove();
  await h.close();
  if (ownStack) await stopStack();
}

process.stdout.write(
  "\n| case | events | kills | lost | duplicated | dead letters | recovery (median / max) | verdict | took |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |\n",
);
for (const r of results) {
  const recovery = `${(median(r.recoveryMs) / 1000).toFixed(1)} / ${(Math.max(...r.recoveryMs) / 1000).toFixed(1)} s`;
  process.stdout.write(
    `| ${r.name} | ${r.events} | ${r.kills} | ${r.lost} | ${r.duplicated} | ${r.deadLetters} | ${recovery} | ${r.ok ? "ok" : "FAILED"} | ${Math.round(r.seconds)} s |\n`,
  );
}
process.stdout.write(
  "\nlost: inputs with neither a prediction nor a dead letter; duplicated: ids predicted more than once\n" +
    "(read_committed); recovery: from a restart's spawn to the first new output record.\n",
);
process.exit(results.every((r) => r.ok) ? 0 : 1);
