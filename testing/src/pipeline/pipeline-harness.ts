/**
 * Test support: everything a pipeline test needs, started once per file and closed in `after`:
 * the local Kafka and Redis, a sidecar on port 0 serving examples/models/fraud, fresh topics and
 * group per test, a Redis key prefix per file, the pipelines and `sluice` processes it started,
 * and the pipeline files it wrote. `pipelineHarness()` registers those hooks.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, afterEach, before } from "node:test";
import { Redis } from "ioredis";
import { InferenceClient } from "@sluice/client";
import {
  decodeLog,
  layoutOf,
  startPipeline,
  statePlan,
  type FeatureSpec,
  type Pipeline,
} from "@sluice/consumer";
import { collectTopics, type ReadRecord } from "../kafka/topic-reader.js";
import type { Sidecar } from "@sluice/server";
import type { StackOptions } from "../stack/stack-options.js";
import {
  eventMessages,
  fraudConfig,
  parsePrediction,
  type FraudEvent,
  referenceRows,
  type EventStream,
  type FixtureSettings,
} from "./pipeline-fixture.js";
import { STACK_TIMEOUT_MS, startTestKafka, type TestKafka } from "../kafka/test-kafka.js";
import {
  configFolder,
  runCli,
  stopCli,
  type CliProcess,
  type ConfigFolder,
} from "./cli-process.js";
import { EXAMPLE_MODELS } from "../paths.js";
import { makeRepository, startTestSidecar, type TestRepository } from "../sidecar/test-sidecar.js";

/** Reading a test's topics to their ends takes a second; this bounds a broken test. */
const READ_TIMEOUT_MS = 20_000;

export class PipelineHarness {
  /** In the ids and user ids of this file's events, so its Redis records can be deleted. */
  readonly run = randomUUID();
  readonly keyPrefix = `sluice-test:${this.run}:`;
  kafka!: TestKafka;
  redis!: Redis;
  repository!: TestRepository;
  sidecar!: Sidecar;
  readonly #pipelines: Pipeline[] = [];
  readonly #processes: CliProcess[] = [];
  /** Run ids of `sluice produce`, whose users' records are deleted from Redis at the end. */
  readonly #produceRuns: string[] = [];
  #files: ConfigFolder | undefined;

  /** `stack` picks another Kafka than the shared local one (see `startTestKafka`). */
  async start(stack: StackOptions = {}): Promise<void> {
    this.kafka = await startTestKafka(stack);
    this.redis = new Redis(this.kafka.redisUrl);
    this.repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
    this.sidecar = await startTestSidecar({ modelRepository: this.repository.dir });
  }

  /** Stops every pipeline and kills every `sluice` process started so far (for `afterEach`). */
  async stopPipelines(): Promise<void> {
    await Promise.all([
      ...this.#pipelines.splice(0).map((pipeline) => pipeline.stop().catch(() => {})),
      ...this.#processes.splice(0).map(stopCli),
    ]);
  }

  async close(): Promise<void> {
    await this.stopPipelines();
    await this.#files?.remove();
    await this.sidecar?.close();
    await this.repository?.remove();
    if (this.redis !== undefined) {
      const patterns = [`${this.keyPrefix}*`, `user:${this.run}*`];
      for (const run of this.#produceRuns) patterns.push(`user:u-${run}-*`);
      for (const pattern of patterns) {
        const keys = await this.redis.keys(pattern);
        if (keys.length > 0) await this.redis.unlink(...keys);
      }
      this.redis.disconnect();
    }
    await this.kafka?.close();
  }

  /**
   * Produces `events` steadily, `perTick` every `pauseMs`, so a kill, a join or a restart lands
   * mid-stream.
   */
  async trickle(
    topic: string,
    events: readonly FraudEvent[],
    { perTick = 20, pauseMs = 50 }: { perTick?: number; pauseMs?: number } = {},
  ): Promise<void> {
    const messages = eventMessages(events);
    for (let i = 0; i < messages.length; i += perTick) {
      await this.kafka.produce(topic, messages.slice(i, i + perTick));
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  /** Records written to `topic` so far (high watermarks; transaction markers included). */
  written(topic: string): Promise<number> {
    return this.kafka.admin.written(topic);
  }

  /** Runs `sluice <args>` as a child process; killed by `stopPipelines`. */
  cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
    const cli = runCli(args, env);
    this.#processes.push(cli);
    return cli;
  }

  /** Writes `document` as a YAML file in a temp folder removed by `close`; resolves with its path. */
  async writeConfig(document: unknown, name = `${randomUUID()}.yaml`): Promise<string> {
    this.#files ??= await configFolder();
    return this.#files.write(name, document);
  }

  /** The users `sluice produce` run `run` wrote to Redis are deleted by `close`. */
  forgetProduceRun(run: string): void {
    this.#produceRuns.push(run);
  }

  /** Fresh topics (`in`, `out`, `dlq`, `review`), group and settings for one test. */
  async setup(partitions = 3, patch: Partial<FixtureSettings> = {}) {
    const topics = await this.kafka.topics(["in", "out", "dlq", "review"], partitions);
    const settings: FixtureSettings = {
      topics: { input: topics.in, output: topics.out, dlq: topics.dlq, review: topics.review },
      brokers: this.kafka.brokers,
      redisUrl: this.kafka.redisUrl,
      sidecarPort: this.sidecar.grpcPort,
      keyPrefix: this.keyPrefix,
      groupId: `sluice-test-${randomUUID()}`,
      ...patch,
    };
    return { topics, settings };
  }

  /** Starts a pipeline with the real clients; stopped by `stopPipelines`. */
  async pipeline(settings: FixtureSettings): Promise<Pipeline> {
    const pipeline = await startPipeline(await fraudConfig(settings));
    this.#pipelines.push(pipeline);
    return pipeline;
  }

  /** Writes the users' home countries where the fraud layout's lookup reads them. */
  async loadHomes(homes: ReadonlyMap<string, string>, redis: Redis = this.redis): Promise<void> {
    const batch = redis.pipeline();
    for (const [user, home] of homes) batch.hset(`user:${user}`, "home_country", home);
    await batch.exec();
  }

  /** Every key under `pattern` with its bytes (hex): the feature store's whole state. */
  async snapshot(pattern: string): Promise<Record<string, string>> {
    const state: Record<string, string> = {};
    for (const key of (await this.redis.keys(pattern)).sort()) {
      state[key] = (await this.redis.getBuffer(key))?.toString("hex") ?? "";
    }
    return state;
  }

  /**
   * The feature state under `prefix`, decoded: per `<entity>:<partition>`, its records as
   * [offset, event time, tracked values...], in offset order (one per offset), from `spec`'s layout.
   */
  async featureState(
    prefix: string,
    spec: FeatureSpec,
    redis: Redis = this.redis,
  ): Promise<Map<string, (number | string)[][]>> {
    const plan = statePlan(spec);
    const layout = layoutOf(plan);
    const state = new Map<string, (number | string)[][]>();
    for (const key of (await redis.keys(`${prefix}*`)).sort()) {
      const bytes = await redis.getBuffer(key);
      if (bytes === null) continue;
      const log = decodeLog(layout, bytes);
      // <prefix><layout>:{<entity>}:<partition>
      const match = /\{(.*)\}:(\d+)$/.exec(key);
      if (match === null) continue;
      state.set(
        `${match[1]}:${match[2]}`,
        Array.from({ length: log.length }, (_, row) => [
          log.offset(row),
          log.time(row),
          ...plan.trackedFields.map((_, field) => log.value(row, field)),
        ]),
      );
    }
    return state;
  }

  /** Reads `topics` from the beginning, read_committed, to their ends (and until `until`). */
  async read(
    topics: string[],
    until?: (records: readonly ReadRecord[]) => boolean,
  ): Promise<ReadRecord[]> {
    const collected = await collectTopics({
      brokers: this.kafka.brokers,
      topics,
      timeoutMs: READ_TIMEOUT_MS,
      ...(until === undefined ? {} : { until }),
    });
    assert.ok(collected.complete, `reading ${topics.join(", ")} timed out`);
    return collected.records;
  }

  /** Every event of `stream` predicted on `topic`, each with the score the README's layout gives it. */
  async assertAllPredicted(topic: string, { events, homes }: EventStream): Promise<void> {
    const records = await this.read([topic], (read) => read.length >= events.length);
    const predictions = records.map((record) => parsePrediction(record.value));
    assert.deepEqual(
      [...new Set(predictions.map((p) => p.id))].sort(),
      events.map((e) => e.id).sort(),
      "every event predicted",
    );
    const expected = await this.expectedProbabilities(referenceRows(events, homes));
    const byId = new Map(predictions.map((p) => [p.id, p]));
    events.forEach((event, i) => {
      const score = byId.get(event.id)!.score;
      assert.ok(
        Math.abs(score - expected[i]![1]!) < 1e-5,
        `${event.id}: score ${score}, reference ${expected[i]![1]}`,
      );
    });
  }

  /** The fraud model's [P(legit), P(fraud)] for each row, straight from the sidecar. */
  async expectedProbabilities(
    rows: readonly Float32Array[],
    version = "stable",
  ): Promise<number[][]> {
    const client = new InferenceClient({ address: `127.0.0.1:${this.sidecar.grpcPort}` });
    try {
      const out: number[][] = [];
      for (let start = 0; start < rows.length; start += 128) {
        const chunk = rows.slice(start, start + 128);
        const data = new Float32Array(chunk.length * 20);
        chunk.forEach((row, i) => data.set(row, i * 20));
        const result = await client.infer(
          "fraud",
          [{ name: "features", datatype: "FP32", shape: [chunk.length, 20], data }],
          { version },
        );
        const probabilities = result.output("probabilities").data as Float32Array;
        for (let i = 0; i < chunk.length; i++) {
          out.push([probabilities[2 * i]!, probabilities[2 * i + 1]!]);
        }
      }
      return out;
    } finally {
      client.close();
    }
  }
}

/**
 * A `PipelineHarness` started in `before` (with `stack`, or the options `stack()` resolves), its
 * pipelines and processes stopped after each test, and closed in `after`.
 */
export function pipelineHarness(
  stack: StackOptions | (() => Promise<StackOptions>) = {},
): PipelineHarness {
  const h = new PipelineHarness();
  before(async () => h.start(typeof stack === "function" ? await stack() : stack), {
    timeout: STACK_TIMEOUT_MS,
  });
  afterEach(() => h.stopPipelines());
  after(() => h.close());
  return h;
}
