/**
 * `npm run soak`: the pipeline under a steady load for a long while, as processes (the sidecar
 * `sluice serve`, `sluice consume`, the load from `sluice produce`) on the local stack. First it
 * measures the pipeline's drain rate (a backlog consumed as fast as it goes), then it runs at
 * `--rate-share` of it for `--minutes`, sampling the consumer's and the sidecar's resident memory
 * (RSS) and the lag every 10 s. It reports whether each RSS stays within ±10 % of its level after
 * the warm-up, the lag, and the lost and duplicated events (`sluice verify`). docs/reliability.md
 * has the results.
 *
 *   npm run soak -- --minutes 10 --rate-share 0.8
 *   npm run soak -- --minutes 2 --rate 1500 --delivery exactly_once
 *
 * Uses KAFKA_BROKERS / REDIS_URL, or the local stack: started if it is not running, and then
 * stopped at the end. Exit status 0 when memory stayed within bounds and nothing was lost (nor
 * duplicated with exactly_once), 1 otherwise.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import type { DeliveryMode } from "@sluice/consumer";
import { stopStack } from "@sluice/testing/stack";
import {
  configFolder,
  EXAMPLE_MODELS,
  makeRepository,
  startTestKafka,
  type CliProcess,
} from "@sluice/testing";
import { ChaosRun, sleep, startsOwnStack } from "../chaos/chaos-run.js";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    "rate-share": { type: "string", default: "0.8" },
    rate: { type: "string" },
    delivery: { type: "string", default: "at_least_once" },
    seed: { type: "string", default: "17" },
  },
});
const minutes = Number(flags.minutes);
const rateShare = Number(flags["rate-share"]);
const seed = Number(flags.seed);
const delivery = flags.delivery as DeliveryMode;
if (!(minutes > 0)) throw new Error(`--minutes: expected a positive number, got ${flags.minutes}`);
if (!(rateShare > 0 && rateShare <= 1))
  throw new Error(`--rate-share: expected a share in (0, 1], got ${flags["rate-share"]}`);
if (delivery !== "at_least_once" && delivery !== "exactly_once")
  throw new Error(`--delivery: expected at_least_once or exactly_once, got ${flags.delivery}`);

/** The pipeline kept up when, at the load's end, it was at most this many seconds of load behind. */
const KEPT_UP_S = 10;
/** Reading a soak's million records back takes minutes on a busy machine. */
const VERIFY_TIMEOUT_S = 900;
/** How often memory and lag are sampled (issue 12). */
const SAMPLE_MS = 10_000;
/** Memory may move by this much after the warm-up (issue 12). */
const RSS_BOUND = 0.1;
/** The first share of the run is warm-up (JIT, caches, buffers): at least 1 and at most 2 minutes. */
function warmUpMs(totalMs: number): number {
  return Math.min(120_000, Math.max(60_000, 0.2 * totalMs));
}
/** Faster than the pipeline drains on any machine measured: the load of the drain measurement. */
const FLOOD_RATE = 20_000;
/** The drain is counted from the first to the second, in seconds after the load starts (warm-up before). */
const DRAIN_WINDOW_S = { start: 8, end: 28 };

/** Resident memory of `pid` in bytes (Linux: /proc). */
async function rss(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

interface Sample {
  readonly atS: number;
  readonly consumerRss: number;
  readonly sidecarRss: number;
  /** Input records not yet answered by an output record or dead letter. */
  readonly lag: number;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

const ownStack = await startsOwnStack();
const files = await configFolder();
const repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
const kafka = await startTestKafka();
const redis = new Redis(kafka.redisUrl);
const parts = { kafka, redisUrl: kafka.redisUrl, redis, modelRepository: repository.dir };
let ok = false;
try {
  // 1. The drain rate: one consumer against a load faster than it, the producer running beside
  // it as in the soak (on a shared machine the producer's CPU is part of the cost), counted over
  // the window after the warm-up.
  const drain = new ChaosRun("soak-drain", delivery, parts, files);
  let drainRate: number;
  try {
    await drain.setup(64);
    await drain.consumer();
    const flood = drain.cli([
      ...["produce", "--config", drain.file, "--rate", String(FLOOD_RATE)],
      ...["--duration", String(DRAIN_WINDOW_S.end + 2), "--users", "5000", "--seed", String(seed)],
    ]);
    const outcomes = async () =>
      (await drain.written()) + (await kafka.admin.written(drain.topics.dlq));
    const started = performance.now();
    await sleep(DRAIN_WINDOW_S.start * 1000);
    const [from, fromAt] = [await outcomes(), performance.now()];
    await sleep(DRAIN_WINDOW_S.end * 1000 - (performance.now() - started));
    const [to, toAt] = [await outcomes(), performance.now()];
    const backlog = (await kafka.admin.written(drain.topics.in)) - to;
    drainRate = (to - from) / ((toAt - fromAt) / 1000);
    process.stdout.write(
      `soak: drain ${Math.round(drainRate)} events/s over ${DRAIN_WINDOW_S.end - DRAIN_WINDOW_S.start} s, ` +
        `${backlog} events behind at the end${backlog < 1_000 ? " (the producer's pace, not the consumer's: a floor)" : ""}\n`,
    );
    flood.child.kill("SIGTERM");
    await flood.exited;
  } finally {
    await drain.close();
  }
  const rate = flags.rate === undefined ? Math.round(rateShare * drainRate) : Number(flags.rate);
  process.stdout.write(`soak: ${minutes} min at ${rate} events/s, ${delivery}\n`);

  // 2. The soak: a steady load for `minutes`, memory and lag sampled every 10 s.
  const soak = new ChaosRun("soak", delivery, parts, files);
  try {
    await soak.setup(64);
    const consumer = await soak.consumer();
    const events = Math.round(rate * minutes * 60);
    const produce: CliProcess = soak.cli([
      ...["produce", "--config", soak.file, "--rate", String(rate), "--count", String(events)],
      ...["--malformed-ratio", "0.01", "--users", "5000", "--seed", String(seed)],
    ]);
    const started = performance.now();
    const samples: Sample[] = [];
    let producing = true;
    void produce.exited.then(() => (producing = false));
    while (producing) {
      await sleep(SAMPLE_MS);
      const [input, output, dlq] = await Promise.all([
        kafka.admin.written(soak.topics.in),
        soak.written(),
        kafka.admin.written(soak.topics.dlq),
      ]);
      const sample: Sample = {
        atS: Math.round((performance.now() - started) / 1000),
        consumerRss: await rss(consumer.child.pid),
        sidecarRss: await rss(soak.sidecar?.child.pid),
        lag: Math.max(0, input - output - dlq),
      };
      samples.push(sample);
      process.stdout.write(
        `  ${sample.atS} s: consumer ${mb(sample.consumerRss)} MB, sidecar ${mb(sample.sidecarRss)} MB, lag ${sample.lag}\n`,
      );
    }
    const produced = await produce.exited;
    if (produced.code !== 0)
      throw new Error(`sluice produce failed:\n${produce.lines.slice(-5).join("\n")}`);
    const report = await soak.verify(events, VERIFY_TIMEOUT_S);

    const warmUp = warmUpMs(minutes * 60_000) / 1000;
    const after = samples.filter((s) => s.atS >= warmUp);
    const bounds = (pick: (s: Sample) => number) => {
      const reference = after[0] === undefined ? Number.NaN : pick(after[0]);
      const worst = Math.max(...after.map((s) => Math.abs(pick(s) / reference - 1)));
      return { reference, worst, within: after.length > 1 && worst <= RSS_BOUND };
    };
    const consumerBounds = bounds((s) => s.consumerRss);
    const sidecarBounds = bounds((s) => s.sidecarRss);
    const lost = report.missing.length;
    const duplicated = Object.keys(report.duplicates).length;
    const lags = samples.map((s) => s.lag);
    // Behind by at most this many seconds of load at the load's end: the pipeline kept up.
    const loadEnd = samples.filter((s) => s.atS <= minutes * 60).at(-1)?.lag ?? Number.NaN;
    const keptUp = loadEnd <= rate * KEPT_UP_S;
    ok =
      report.complete &&
      lost === 0 &&
      consumerBounds.within &&
      sidecarBounds.within &&
      keptUp &&
      (delivery === "at_least_once" || duplicated === 0);
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    process.stdout.write(
      `\n| run | drain | rate | events | consumer RSS after warm-up (${warmUp} s) | sidecar RSS after warm-up | lag (max / at the load's end) | lost | duplicated | verdict |\n` +
        "| --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | --- |\n" +
        `| ${minutes} min, ${delivery} | ${Math.round(drainRate)}/s | ${rate}/s | ${events} | ` +
        `${mb(consumerBounds.reference)} MB, at most ${pct(consumerBounds.worst)} off | ` +
        `${mb(sidecarBounds.reference)} MB, at most ${pct(sidecarBounds.worst)} off | ` +
        `${Math.max(...lags)} / ${loadEnd}${keptUp ? "" : " (fell behind)"} | ${lost} | ${duplicated} | ${ok ? "ok" : "FAILED"} |\n`,
    );
  } finally {
    await soak.close(!ok);
  }
} finally {
  redis.disconnect();
  await kafka.close();
  await files.remove();
  await repository.remove();
  if (ownStack) await stopStack();
}
process.exit(ok ? 0 : 1);
