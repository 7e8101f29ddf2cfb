/**
 * What producing the pipeline's prediction records costs the consumer process, per record and per
 * compression: the real `PlatformaticClient` producer (or kafkajs's) sending micro-batches of
 * prediction records shaped as the fraud pipeline writes them (a ~330-byte JSON value, the key,
 * the four lineage headers and a traceparent) to a real broker, one micro-batch per partition of
 * 8 at a time, as the pipeline's coalesced sends go. The compressions run phase by phase in turn
 * in one process (`--phases` each), so that a busy machine weighs on each alike; the figures are
 * this process's CPU (all threads) and its main thread's per record, and the bytes each record
 * takes in the log. `--threads caller,own` runs each compression with the producer on the caller's
 * thread and in a thread of its own (`producer({ ownThread: true })`, @platformatic/kafka only).
 *
 *   node --conditions=source --import tsx bench/produce-path.bench.ts
 *        [--compressions none,zstd] [--threads caller] [--client platformatic] [--records 1024]
 *        [--phase 100000] [--phases 5] [--partitions 8]
 *
 * Uses the running Kafka (KAFKA_BROKERS, or the local stack's); makes its own topics.
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  COMPRESSIONS,
  KAFKA_CLIENTS,
  KafkajsClient,
  PlatformaticClient,
  type Compression,
  type KafkaClientName,
  type KafkaProducer,
  type OutputRecord,
} from "@sluice/consumer";
import { KafkaAdmin, ensureStack } from "@sluice/testing";
import { table } from "./lib/report.js";

const { values: flags } = parseArgs({
  options: {
    compressions: { type: "string", default: "none,zstd" },
    threads: { type: "string", default: "caller" },
    client: { type: "string", default: "platformatic" },
    records: { type: "string", default: "1024" },
    phase: { type: "string", default: "100000" },
    phases: { type: "string", default: "5" },
    partitions: { type: "string", default: "8" },
  },
});
const compressions = flags.compressions.split(",") as Compression[];
for (const c of compressions) {
  if (!COMPRESSIONS.includes(c)) {
    throw new Error(`--compressions: expected some of ${COMPRESSIONS.join(", ")}, got ${c}`);
  }
}
const THREADS = ["caller", "own"] as const;
type Thread = (typeof THREADS)[number];
const threads = flags.threads.split(",") as Thread[];
for (const t of threads) {
  if (!THREADS.includes(t)) throw new Error(`--threads: expected some of caller, own, got ${t}`);
}
const clientName = flags.client as KafkaClientName;
if (!KAFKA_CLIENTS.includes(clientName)) {
  throw new Error(`--client: expected one of ${KAFKA_CLIENTS.join(", ")}, got ${flags.client}`);
}
const perBatch = Number(flags.records);
const perPhase = Number(flags.phase);
const phases = Number(flags.phases);
const partitions = Number(flags.partitions);
for (const [name, value] of Object.entries({ perBatch, perPhase, phases, partitions })) {
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name}: expected a positive integer, got ${value}`);
  }
}

/** A fraud prediction's value as PredictionWriter writes it, for event `n`. */
function predictionValue(n: number, at: string): string {
  const score = ((n * 7919) % 10_000) / 10_000;
  return (
    `{"id":"tx-bench-${n}","key":"u-${n % 10_000}","model":"fraud","model_version":"1",` +
    `"label":${score > 0.5 ? 1 : 0},"score":${score},"probabilities":[${1 - score},${score}],` +
    `"confidence":${Math.max(score, 1 - score)},"event_time":"${at}","predicted_at":"${at}"}`
  );
}

/** One micro-batch per partition: `perBatch` records each, headers as the pipeline writes them. */
function microBatches(topic: string, first: number): OutputRecord[][] {
  const at = new Date().toISOString();
  const batches: OutputRecord[][] = [];
  for (let p = 0; p < partitions; p++) {
    const records: OutputRecord[] = [];
    for (let i = 0; i < perBatch; i++) {
      const n = first + p * perBatch + i;
      records.push({
        topic,
        key: `u-${n % 10_000}`,
        value: predictionValue(n, at),
        headers: {
          "sluice-model-version": "1",
          "sluice-source-topic": "transactions",
          "sluice-source-partition": String(p),
          "sluice-source-offset": String(n),
          traceparent: `00-${randomUUID().replaceAll("-", "")}-${"b".repeat(16)}-01`,
        },
      });
    }
    batches.push(records);
  }
  return batches;
}

const brokers = (await ensureStack({ progress: () => {} })).brokers.split(",");
const admin = new KafkaAdmin(brokers, "sluice-produce-path-bench");
/** One per compression and thread: `zstd/own`, …; the first is the others' measure. */
interface Variant {
  readonly name: string;
  readonly compression: Compression;
  readonly topic: string;
  readonly producer: KafkaProducer;
  /** µs per record by phase: all threads, the main thread; records/s by phase. */
  readonly cpu: number[];
  readonly mainCpu: number[];
  readonly rate: number[];
}
const variants: Variant[] = [];
try {
  for (const compression of compressions) {
    for (const thread of threads) {
      const name = `${compression}/${thread}`;
      const topic = `produce-path-${compression}-${thread}-${randomUUID().slice(0, 8)}`;
      await admin.createTopics([topic], partitions);
      const options = { brokers, clientId: `sluice-produce-path-${compression}`, compression };
      const client =
        clientName === "kafkajs" ? new KafkajsClient(options) : new PlatformaticClient(options);
      const producer = client.producer({ ownThread: thread === "own" });
      await producer.connect();
      variants.push({ name, compression, topic, producer, cpu: [], mainCpu: [], rate: [] });
    }
  }
} catch (error) {
  await cleanUp();
  throw error;
}

async function cleanUp(): Promise<void> {
  await Promise.all(variants.map((v) => v.producer.disconnect().catch(() => {})));
  await admin.deleteTopics(variants.map((v) => v.topic)).catch(() => {});
  await admin.close();
}

let sequence = 0;
console.log(
  `produce path: ${clientName}, ${partitions} micro-batches of ${perBatch} at a time, ` +
    `${perPhase} records per phase, ${phases} phases each; load average ${loadavg()[0]!.toFixed(2)}`,
);
try {
  // The first round warms up each producer (connections, metadata, JIT) and is not counted.
  for (let round = 0; round <= phases; round++) {
    for (const variant of variants) {
      let cpuMicros = 0;
      let mainMicros = 0;
      let sent = 0;
      const started = performance.now();
      while (sent < (round === 0 ? perPhase / 4 : perPhase)) {
        // Building the records is the pipeline's work, not the producer's: outside the figure.
        const batches = microBatches(variant.topic, sequence);
        sequence += partitions * perBatch;
        const before = process.cpuUsage();
        const mainBefore = process.threadCpuUsage();
        await Promise.all(batches.map((records) => variant.producer.send(records)));
        const used = process.cpuUsage(before);
        const mainUsed = process.threadCpuUsage(mainBefore);
        cpuMicros += used.user + used.system;
        mainMicros += mainUsed.user + mainUsed.system;
        sent += partitions * perBatch;
      }
      if (round === 0) continue;
      variant.cpu.push(cpuMicros / sent);
      variant.mainCpu.push(mainMicros / sent);
      variant.rate.push(sent / ((performance.now() - started) / 1000));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const first = variants[0]!;
  const rows: string[][] = [];
  for (const v of variants) {
    const bytes = await admin.logBytes(v.topic);
    const records = (await admin.written(v.topic)) || 1;
    rows.push([
      v.name,
      v.cpu.map((x) => x.toFixed(2)).join(", "),
      median(v.cpu).toFixed(2),
      (median(v.cpu) / median(first.cpu)).toFixed(2),
      median(v.mainCpu).toFixed(2),
      (median(v.mainCpu) / median(first.mainCpu)).toFixed(2),
      Math.round(median(v.rate)).toLocaleString("en-US"),
      (bytes / records).toFixed(0),
    ]);
  }
  console.log(
    table([
      [
        "compression/thread",
        "µs/record by phase",
        "median",
        `÷ ${first.name}`,
        "main thread",
        `÷ ${first.name}`,
        "records/s",
        "log bytes/record",
      ],
      ...rows,
    ]),
  );
  console.log(
    "µs/record: this process's CPU per record in producer.send, all threads (median by phase) and " +
      `the main thread's (median); load average at end ${loadavg()[0]!.toFixed(2)}`,
  );
} finally {
  await cleanUp();
}
