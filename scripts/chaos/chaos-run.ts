/**
 * One chaos case's parts, all real processes: a pipeline file on fresh topics and group, the
 * sidecar (`sluice serve`), consumers (`sluice consume`), the load (`sluice produce`) and the
 * judge (`sluice verify`), plus a watch on the output topic that times every recovery.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeliveryMode } from "@sluice/consumer";
import type { VerifyReport } from "@sluice/demo";
import {
  deleteKeys,
  fraudDocument,
  freePort,
  runCli,
  stopCli,
  waitFor,
  type CliProcess,
  type ConfigFolder,
  type FixtureSettings,
  type TestKafka,
} from "@sluice/testing";
import type { Redis } from "ioredis";
import { stackStatus } from "@sluice/testing/stack";

/** A cold `node --import tsx` of the CLI plus joining the group, or loading the models. */
export const START_TIMEOUT_MS = 30_000;
export const CONSUMING = /pipeline \\"fraud\\" consuming/;
const SIDECAR_READY = /"msg":"sidecar ready"/;
/** How often the output topic's end offsets are read to time stalls and recoveries. */
const WATCH_INTERVAL_MS = 100;
/** Longest a recovery is waited for before the case counts it as stuck. */
const RECOVERY_TIMEOUT_MS = 90_000;
/** The same once the load has ended: there may be nothing left to predict. */
const IDLE_RECOVERY_TIMEOUT_MS = 10_000;

/** Where a case's pipeline runs: a Kafka, a Redis, a model repository. */
export interface ChaosParts {
  readonly kafka: TestKafka;
  readonly redisUrl: string;
  /** A client of that Redis, to delete the run's keys at the end. */
  readonly redis: Redis;
  readonly modelRepository: string;
}

/** The steady load of a case, from `sluice produce`. */
export interface Load {
  readonly events: number;
  /** Events per second. */
  readonly rate: number;
  readonly seed: number;
}

export interface ChaosResult {
  readonly name: string;
  readonly delivery: DeliveryMode;
  readonly events: number;
  readonly faults: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly deadLetters: number;
  /** From each fault's end (a restart's spawn, a SIGCONT, a member joined or left) to the next new output record, ms. */
  readonly recoveryMs: number[];
  /** The longest time the output topic grew by nothing while the load ran, ms. */
  readonly longestStallMs: number;
  readonly ok: boolean;
  /** Why not ok, beyond the counts (a process that failed, a recovery that never came). */
  readonly notes: string[];
  readonly seconds: number;
}

export class ChaosRun {
  readonly instanceId = `chaos-${randomUUID().slice(0, 8)}`;
  readonly recoveryMs: number[] = [];
  readonly notes: string[] = [];
  faults = 0;
  file!: string;
  topics!: Record<"in" | "out" | "dlq" | "review", string>;
  sidecar: CliProcess | undefined;
  sidecarPort = 0;
  readonly #processes: CliProcess[] = [];
  readonly #keyPrefix = `sluice-chaos:${randomUUID()}:`;
  readonly #started = Date.now();
  #written = 0;
  #lastGrowth = performance.now();
  #longestStallMs = 0;
  #watching = false;
  #watch: Promise<void> | undefined;
  #produce: CliProcess | undefined;

  constructor(
    readonly name: string,
    readonly delivery: DeliveryMode,
    readonly parts: ChaosParts,
    readonly files: ConfigFolder,
    /** Started with the first consumer; none for a run that produces on its own (the soak). */
    readonly load?: Load,
  ) {}

  /** Topics, the sidecar process and the pipeline file. */
  async setup(maxEvents = 16): Promise<void> {
    this.topics = await this.parts.kafka.topics(["in", "out", "dlq", "review"], 3);
    this.sidecarPort = await freePort();
    await this.startSidecar();
    const settings: FixtureSettings = {
      topics: {
        input: this.topics.in,
        output: this.topics.out,
        dlq: this.topics.dlq,
        review: this.topics.review,
      },
      brokers: this.parts.kafka.brokers,
      redisUrl: this.parts.redisUrl,
      sidecarPort: this.sidecarPort,
      keyPrefix: this.#keyPrefix,
      groupId: `sluice-chaos-${randomUUID()}`,
      delivery: this.delivery,
      maxEvents,
      ...(this.redisSettings === undefined
        ? {}
        : {
            patch: {
              redis: {
                url: this.parts.redisUrl,
                key_prefix: this.#keyPrefix,
                ...this.redisSettings,
              },
            },
          }),
    };
    this.file = await this.files.write(
      `${this.name}-${randomUUID()}.yaml`,
      await fraudDocument(settings),
    );
  }

  /** More of the pipeline file's `redis` block (e.g. `max_cached_mb`), set before `setup`. */
  redisSettings: Record<string, unknown> | undefined;

  /**
   * Node.js options for the sidecar and the consumers only (a heap limit, as their containers
   * would set), added to NODE_OPTIONS; the load and the judge run as they are.
   */
  nodeOptions: string | undefined;

  cli(args: string[]): CliProcess {
    const pipelineProcess = args[0] === "serve" || args[0] === "consume";
    // The CLI prefers KAFKA_BROKERS and REDIS_URL to the file's: they must name this run's parts.
    const process = runCli(args, {
      KAFKA_BROKERS: this.parts.kafka.brokers.join(","),
      REDIS_URL: this.parts.redisUrl,
      ...(pipelineProcess && this.nodeOptions !== undefined
        ? { NODE_OPTIONS: `${globalThis.process.env["NODE_OPTIONS"] ?? ""} ${this.nodeOptions}` }
        : {}),
    });
    this.#processes.push(process);
    return process;
  }

  /** `sluice serve` on this run's port; resolves once it says it is ready. */
  async startSidecar(): Promise<CliProcess> {
    const sidecar = this.cli([
      ...["serve", "--model-repository", this.parts.modelRepository],
      ...["--grpc-port", String(this.sidecarPort), "--metrics-port", "-1"],
    ]);
    this.sidecar = sidecar;
    await sidecar.line(SIDECAR_READY, START_TIMEOUT_MS);
    return sidecar;
  }

  /**
   * `sluice consume` with `instanceId` (this run's own by default) and `args` (more flags);
   * resolves once it consumes.
   * The load starts when the first consumer does.
   */
  async consumer(instanceId = this.instanceId, args: readonly string[] = []): Promise<CliProcess> {
    const consumer = this.cli([
      ...["consume", "--config", this.file, "--instance-id", instanceId],
      ...args,
    ]);
    await consumer.line(CONSUMING, START_TIMEOUT_MS);
    if (this.#produce === undefined && this.load !== undefined) this.#startLoad(this.load);
    return consumer;
  }

  /** The load: `events` at `rate` per second, 2 % malformed; and the watch on the output. */
  #startLoad({ events, rate, seed }: Load): void {
    this.#produce = this.cli([
      ...["produce", "--config", this.file, "--rate", String(rate), "--count", String(events)],
      ...["--malformed-ratio", "0.02", "--users", "200", "--seed", String(seed)],
    ]);
    this.#watching = true;
    this.#lastGrowth = performance.now();
    this.#watch = this.#watchOutput();
  }

  async #watchOutput(): Promise<void> {
    while (this.#watching) {
      // A frozen broker leaves this read waiting: the stall is then measured when it answers.
      const written = await this.written().catch(() => this.#written);
      const now = performance.now();
      if (written > this.#written) {
        this.#longestStallMs = Math.max(this.#longestStallMs, now - this.#lastGrowth);
        this.#written = written;
        this.#lastGrowth = now;
      }
      await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
    }
  }

  /** Records written to the output topic so far (aborted ones included). */
  written(): Promise<number> {
    return this.parts.kafka.admin.written(this.topics.out);
  }

  /**
   * Runs `end` (the action that ends a fault: a restart, a SIGCONT) and times from there to the
   * next new output record; a recovery that does not come in time is noted.
   */
  async recover(what: string, end: () => unknown, before?: number): Promise<void> {
    this.faults++;
    const from = before ?? (await this.written());
    const endedAt = performance.now();
    await end();
    const readyMs = performance.now() - endedAt;
    // With the load over and its backlog done, a recovery has nothing to predict: no figure then.
    const loadOver = this.#produce?.child.exitCode !== null;
    const recoveredMs = await waitFor(
      "a new output record",
      async () => (await this.written()) > from,
      { timeoutMs: loadOver ? IDLE_RECOVERY_TIMEOUT_MS : RECOVERY_TIMEOUT_MS, intervalMs: 20 },
    ).then(
      () => performance.now() - endedAt,
      (error: unknown) => {
        if (!loadOver) this.notes.push(`${what}: ${(error as Error).message}`);
        return undefined;
      },
    );
    if (recoveredMs !== undefined) this.recoveryMs.push(recoveredMs);
    // The part a restart spent starting (spawn to consuming, or to the sidecar's ready line).
    const start = readyMs >= 100 ? ` (${Math.round(readyMs)} ms of it starting)` : "";
    process.stdout.write(
      `  ${this.name}: ${what}${recoveredMs === undefined ? ", nothing left to predict" : `, output again after ${Math.round(recoveredMs)} ms${start}`}\n`,
    );
  }

  /** `sluice verify`'s report once `events` inputs are accounted for (or `timeoutS` have passed). */
  async verify(events: number, timeoutS = 120): Promise<VerifyReport> {
    const verify = this.cli([
      ...[
        "verify",
        "--config",
        this.file,
        "--expect",
        String(events),
        "--timeout",
        String(timeoutS),
        "--json",
      ],
    ]);
    if ((await verify.exited).code !== 0 && verify.stdout() === "")
      throw new Error(`sluice verify failed:\n${verify.lines.join("\n")}`);
    return JSON.parse(verify.stdout()) as VerifyReport;
  }

  /** A fault whose recovery is not timed on its own (the longest stall covers it). */
  fault(what: string): void {
    this.faults++;
    process.stdout.write(`  ${this.name}: ${what}\n`);
  }

  /** Waits for the load to end, then judges the output with `sluice verify`. */
  async finish(): Promise<ChaosResult> {
    if (this.#produce === undefined || this.load === undefined)
      throw new Error(`${this.name}: no load was started`);
    const { events } = this.load;
    const produced = await this.#produce.exited;
    this.#watching = false;
    await this.#watch;
    if (produced.code !== 0)
      this.notes.push(`sluice produce exited ${produced.code}: ${this.#produce.lines.at(-1)}`);
    const report = await this.verify(events);
    const duplicated = Object.keys(report.duplicates).length;
    const lost = report.missing.length;
    const accounted = report.predicted + report.deadLetters === events;
    if (!report.complete) this.notes.push(`verify: only ${report.inputs} inputs read in time`);
    const ok =
      report.complete &&
      lost === 0 &&
      this.notes.length === 0 &&
      (this.delivery === "at_least_once" || (duplicated === 0 && accounted));
    return {
      name: this.name,
      delivery: this.delivery,
      events,
      faults: this.faults,
      lost,
      duplicated,
      deadLetters: report.deadLetters,
      recoveryMs: this.recoveryMs,
      longestStallMs: this.#longestStallMs,
      ok,
      notes: this.notes,
      seconds: (Date.now() - this.#started) / 1000,
    };
  }

  /**
   * Every process of the run stopped, its Redis keys and the produced users' records deleted.
   * With `keepLogs`, each process's stderr is written to a file in the temp folder, named on stdout.
   */
  async close(keepLogs = false): Promise<void> {
    this.#watching = false;
    await Promise.all(this.#processes.map(stopCli));
    if (keepLogs) {
      const dir = await mkdtemp(join(tmpdir(), `sluice-chaos-${this.name}-`));
      await Promise.all(
        this.#processes.map((cli, i) =>
          writeFile(join(dir, `${i}-${cli.child.spawnargs[5] ?? "cli"}.log`), cli.lines.join("\n")),
        ),
      );
      process.stdout.write(`  ${this.name}: the processes' logs are in ${dir}\n`);
    }
    await deleteKeys(this.parts.redis, `${this.#keyPrefix}*`).catch(() => {});
    for (const cli of this.#processes) {
      const run = /^run (\S+): produced/m.exec(cli.stdout())?.[1];
      if (run !== undefined) await deleteKeys(this.parts.redis, `user:u-${run}-*`).catch(() => {});
    }
  }
}

/**
 * Whether this script's run will start the local stack (no KAFKA_BROKERS and REDIS_URL given, and
 * none running), so it must stop it at the end.
 */
export async function startsOwnStack(): Promise<boolean> {
  if (process.env["KAFKA_BROKERS"] && process.env["REDIS_URL"]) return false;
  return !(await stackStatus()).kafka.running;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
