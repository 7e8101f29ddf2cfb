/**
 * The consumer's own path without Kafka (issue 13, item 5): the real `Pipeline` with
 * examples/pipelines/fraud.yaml, its real Redis feature store and a real sidecar, on an in-memory
 * Kafka client (`bench/pipeline/memory-kafka.ts`) that hands over pre-encoded records in fetches of
 * 2,500 per partition, as the pipeline bench's maximum drain fetches them, and acknowledges each
 * produce after `--ack-ms`. What it measures is everything the consumer process does per event
 * except the Kafka client's own work: decoding, features, the store's round trip, ModelInfer,
 * prediction records, the partition handler and delivery: this process's CPU per event (all
 * threads, `process.cpuUsage`) and events/s.
 *
 * With `--against <checkout>` the same runs on that checkout's @sluice/consumer too, in the same
 * process, phase by phase in turn (`--phase` events each, `--phases` each): a before/after pair
 * under the same load, which on a busy machine the pipeline bench cannot give. Each phase starts
 * after a full collection, so neither side pays for the other's garbage.
 *
 * With `--variants base,shadow` this tree runs once per variant of the pipeline, in turn the same
 * way: `base` is fraud.yaml, `shadow` adds a shadow of version 2 on every event (`shadow-same`: of
 * version 1, the primary's own model), `monitoring` the drift monitor and the label join (issue 9:
 * what they cost). Ratios are printed against the
 * first side.
 *
 *   node --conditions=source --import tsx bench/consumer-path.bench.ts [--against <checkout>]
 *        [--variants base,shadow,shadow-same,monitoring]
 *        [--events 200000] [--warmup 20000] [--phase 10000] [--ack-ms 2] [--partitions 8]
 *        [--users 10000] [--sidecar host:port]
 *
 * Uses the running Redis (REDIS_URL, or the local stack's); writes and deletes its own keys.
 * Starts its own sidecar (examples/models/fraud) unless given one.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Redis } from "ioredis";
import { parse as parseYaml } from "yaml";
import type * as Consumer from "@sluice/consumer";
import type { InputRecord } from "@sluice/consumer";
import { SyntheticFraud } from "@sluice/demo";
import { ensureStack } from "@sluice/testing";
import { REPO_ROOT, cleanUp, removeLater, startChild } from "./lib/child.js";
import { sampleCpu } from "./lib/cpu-usage.js";
import { table } from "./lib/report.js";
import { MemoryKafka, type PhaseFigures } from "./pipeline/memory-kafka.js";

const { values: flags } = parseArgs({
  options: {
    against: { type: "string" },
    variants: { type: "string", default: "base" },
    events: { type: "string", default: "200000" },
    warmup: { type: "string", default: "20000" },
    phase: { type: "string", default: "10000" },
    "ack-ms": { type: "string", default: "2" },
    partitions: { type: "string", default: "8" },
    users: { type: "string", default: "10000" },
    sidecar: { type: "string" },
  },
});
const numbers = {
  events: Number(flags.events),
  warmup: Number(flags.warmup),
  phase: Number(flags.phase),
  "ack-ms": Number(flags["ack-ms"]),
  partitions: Number(flags.partitions),
  users: Number(flags.users),
};
for (const [name, value] of Object.entries(numbers)) {
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`--${name}: expected an integer ≥ 0, got ${value}`);
}
const { events: measured, warmup, phase, partitions, users } = numbers;
const ackMs = numbers["ack-ms"];

// A full collection before each phase, without asking for node --expose-gc: the flag set now, the
// function taken from a fresh context that sees it.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;
const log = (text: string) => process.stdout.write(`${text}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
const runId = `cp${randomBytes(3).toString("hex")}`;

interface Side {
  readonly label: string;
  readonly consumer: typeof Consumer;
  readonly kafka: MemoryKafka;
  pipeline?: Consumer.Pipeline;
  readonly phases: (PhaseFigures & { readonly sidecarCpuUs: number })[];
}

/** What a variant changes in fraud.yaml's `pipeline:` section. */
const VARIANTS: Record<string, (pipeline: Record<string, unknown>) => void> = {
  base: () => {},
  // Every event scored by the stable version and, beside it, by version 2, whose result is only
  // compared (issue 9's shadow).
  shadow: (pipeline) => {
    const { version: _serves, ...model } = pipeline["model"] as Record<string, unknown>;
    pipeline["model"] = model;
    pipeline["rollout"] = {
      arms: [{ name: "stable", version: 1, weight: 100 }],
      shadow: { version: 2, share: 100, deadline_ms: 2000 },
    };
  },
  // The same with version 1 shadowing itself: what the shadow's mechanism costs (an extra
  // ModelInfer per micro-batch and the comparison per event), apart from a heavier model's.
  "shadow-same": (pipeline) => {
    VARIANTS["shadow"]!(pipeline);
    (pipeline["rollout"] as { shadow: { version: number } }).shadow.version = 1;
  },
  // Drift against each version's reference.json, and every prediction recorded in the label join
  // (one Redis script call per micro-batch); the label topic's consumer fetches nothing here, so
  // the labels' own ingestion (one call per label batch, off the events' path) is not measured.
  monitoring: (pipeline) => {
    pipeline["monitoring"] = {
      drift: { reference: "file", model_repository: join(REPO_ROOT, "examples/models") },
      labels: {
        topic: `${(pipeline["topics"] as { input: string }).input}-labels`,
        // Under the run's prefix, so the clean-up at the end deletes the join's keys too.
        key_prefix: `${(pipeline["redis"] as { key_prefix: string }).key_prefix}labels:`,
      },
    };
  },
};
const variants = (flags.variants ?? "base").split(",").map((name) => name.trim());
for (const name of variants) {
  if (VARIANTS[name] === undefined) {
    throw new Error(
      `--variants: expected names from ${Object.keys(VARIANTS).join(", ")}, got "${name}"`,
    );
  }
}
const sides: { label: string; module: string; variant: string }[] = variants.map((variant) => ({
  label: variants.length === 1 ? "this tree" : variant,
  module: "@sluice/consumer",
  variant,
}));
if (flags.against !== undefined) {
  const checkout = resolve(flags.against);
  sides.push({
    label: checkout,
    module: pathToFileURL(join(checkout, "consumer/src/index.ts")).href,
    variant: "base",
  });
}
log(
  `consumer path: ${measured} events per side after ${warmup} of warm-up, phases of ${phase}, ` +
    `${partitions} partitions, produce acknowledged after ${ackMs} ms` +
    `, a full GC before each phase; load average ${load()}`,
);

// The events, keyed by user and spread over the partitions as a key partitioner would; each side
// gets the same events under user ids of its own (its own state and lookup records).
function events(side: number): InputRecord[][] {
  const generator = new SyntheticFraud({ users, runId: `${runId}-${side}`, seed: 7 });
  const total = warmup + measured;
  const byPartition: InputRecord[][] = Array.from({ length: partitions }, () => []);
  const userPartition = new Map(generator.users.map((user, i) => [user.id, i % partitions]));
  const start = Date.now() - 3_600_000;
  for (let i = 0; i < total; i++) {
    const at = start + Math.floor((i * 3_600_000) / total);
    const record = generator.next(at);
    const value = record.kind === "malformed" ? record.value : JSON.stringify(record.event);
    const list = byPartition[userPartition.get(record.key) ?? 0]!;
    list.push({
      offset: String(list.length),
      key: Buffer.from(record.key),
      value: Buffer.from(value),
      headers: {},
      timestamp: String(at),
    });
  }
  return byPartition;
}

const { redisUrl } = await ensureStack({ progress: () => {} });
const url = process.env["REDIS_URL"] ?? redisUrl;
const redis = new Redis(url, { lazyConnect: true });
await redis.connect();
const homeKeys: string[] = [];
const running: Side[] = [];

try {
  let sidecarAddress = flags.sidecar;
  /** The sidecar child's pid, for its CPU per phase (none when `--sidecar` names one). */
  let sidecarPid: number | undefined;
  if (sidecarAddress === undefined) {
    const repository = await mkdtemp(join(tmpdir(), "sluice-bench-"));
    removeLater(repository);
    await cp(join(REPO_ROOT, "examples/models/fraud"), join(repository, "fraud"), {
      recursive: true,
    });
    const sidecar = await startChild<{ grpcPort: number }>("bench/servers/sidecar-server.ts", [
      repository,
    ]);
    sidecarAddress = `127.0.0.1:${sidecar.ready.grpcPort}`;
    sidecarPid = sidecar.pid;
  }
  const pipelineFile = join(REPO_ROOT, "examples/pipelines/fraud.yaml");
  for (const [index, { label, module, variant }] of sides.entries()) {
    const consumer = (await import(module)) as typeof Consumer;
    const generator = new SyntheticFraud({ users, runId: `${runId}-${index}`, seed: 7 });
    const homes = redis.pipeline();
    for (const [user, home] of generator.homes()) {
      homes.hset(`user:${user}`, "home_country", home);
      homeKeys.push(`user:${user}`);
    }
    await homes.exec();
    const topic = `bench-consumer-path-${runId}-${index}`;
    const document = parseYaml(await readFile(pipelineFile, "utf8")) as {
      pipeline: Record<string, unknown>;
    };
    const p = document.pipeline;
    p["kafka"] = { ...(p["kafka"] as object), brokers: ["127.0.0.1:1"], group_id: topic };
    p["topics"] = {
      input: topic,
      output: `${topic}-out`,
      dead_letter: `${topic}-dlq`,
      review: `${topic}-review`,
    };
    p["model"] = { ...(p["model"] as object), sidecar: sidecarAddress };
    p["redis"] = { url, key_prefix: `bench-consumer-path:${runId}:${index}:` };
    VARIANTS[variant]?.(p);
    const config = consumer.parsePipelineConfig(
      document,
      {},
      join(REPO_ROOT, "examples/pipelines"),
    );
    const kafka = new MemoryKafka(topic, events(index), { ackMs });
    const inference = new consumer.SidecarInference(config.model.sidecar);
    const store = await consumer.RedisFeatureStore.connect(
      config.redis.url,
      consumer.featureStoreOptions(config),
    );
    const labels = config.monitoring?.labels;
    const labelJoin =
      labels === undefined
        ? undefined
        : await consumer.RedisLabelJoin.connect(config.redis.url, {
            keyPrefix: labels.keyPrefix,
            ttlMs: labels.ttlMs,
          });
    const side: Side = { label, consumer, kafka, phases: [] };
    running.push(side);
    side.pipeline = await consumer.Pipeline.start(config, {
      kafka,
      inference,
      store,
      ...(labelJoin === undefined ? {} : { labelJoin }),
      release: async () => {
        inference.close();
        await store.close();
      },
    });
  }
  // Warm-up (JIT, connections, every user loaded once), then phases in turn until each side is done.
  for (const side of running) await side.kafka.phase(warmup);
  while (running.some((side) => side.kafka.remaining > 0)) {
    for (const side of running) {
      if (side.kafka.remaining === 0) continue;
      // The two sides share one heap: a full collection before each phase, outside it, so a
      // phase does not pay for the garbage the other side left.
      collectGarbage();
      const before = sampleCpu(sidecarPid);
      const figures = await side.kafka.phase(phase);
      const after = sampleCpu(sidecarPid);
      const sidecarMs =
        after.serverMainMs + after.serverOtherMs - (before.serverMainMs + before.serverOtherMs);
      side.phases.push({ ...figures, sidecarCpuUs: sidecarMs * 1000 });
    }
  }
  const rows = running.map((side) => {
    const events = side.phases.reduce((sum, p) => sum + p.events, 0);
    const ms = side.phases.reduce((sum, p) => sum + p.ms, 0);
    const cpuUs = side.phases.reduce((sum, p) => sum + p.cpuUs, 0);
    const sidecarCpuUs = side.phases.reduce((sum, p) => sum + p.sidecarCpuUs, 0);
    const perPhase = side.phases
      .filter((p) => p.events > 0)
      .map((p) => p.cpuUs / p.events)
      .sort((a, b) => a - b);
    return {
      side,
      events,
      eventsPerSecond: (events * 1000) / ms,
      cpuPerEvent: cpuUs / events,
      // NaN without a child sidecar of our own; /proc counts in 10 ms ticks, fine over a phase.
      sidecarPerEvent: sidecarCpuUs / events,
      median: perPhase[Math.floor(perPhase.length / 2)] ?? NaN,
    };
  });
  log(
    table([
      [
        "consumer",
        "events",
        "phases",
        "events/s",
        "µs CPU/event",
        "median of phases",
        "sidecar µs/event",
        "produced",
      ],
      ...rows.map((row) => [
        row.side.label,
        String(row.events),
        String(row.side.phases.length),
        row.eventsPerSecond.toFixed(0),
        row.cpuPerEvent.toFixed(2),
        row.median.toFixed(2),
        row.sidecarPerEvent.toFixed(2),
        String(row.side.kafka.produced),
      ]),
    ]),
  );
  for (const row of rows) {
    const each = row.side.phases.map((p) => (p.cpuUs / p.events).toFixed(1)).join(" ");
    log(`${row.side.label}: µs CPU/event per phase, in order: ${each}`);
  }
  const [first, ...others] = rows;
  for (const other of others) {
    log(
      `${other.side.label} ÷ ${first!.side.label}: CPU per event ${(other.cpuPerEvent / first!.cpuPerEvent).toFixed(3)} x, ` +
        `consumer + sidecar CPU per event ${((other.cpuPerEvent + other.sidecarPerEvent) / (first!.cpuPerEvent + first!.sidecarPerEvent)).toFixed(3)} x, ` +
        `events/s ${(other.eventsPerSecond / first!.eventsPerSecond).toFixed(3)} x`,
    );
  }
  log(`load average at end: ${load()}`);
} finally {
  for (const side of running) await side.pipeline?.stop().catch(() => {});
  // The run's state keys and the users' lookup records.
  const keys = [...homeKeys];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(
      cursor,
      "MATCH",
      `bench-consumer-path:${runId}:*`,
      "COUNT",
      1000,
    );
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  cleanUp();
}
