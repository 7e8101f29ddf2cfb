/**
 * What happens to one partition's fetched records: cut into micro-batches of at most
 * `maxEvents`, each processed, delivered and committed before the next; a short batch waits out
 * the linger first, so a burst arriving over a few milliseconds makes one micro-batch.
 *
 * A micro-batch that fails retryably (sidecar, Redis, produce, commit) pauses its partition: the
 * records from it on stay unresolved and uncommitted, and after a jittered backoff the partition
 * resumes and fetches them again. Other partitions go on meanwhile. Nothing is skipped, nothing is
 * committed before it is delivered.
 */
import { backoffDelay, sleep, type BackoffSettings, type Logger } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import type { Delivery, DeliveryTimes } from "./delivery.js";
import type { InputRecord, PartitionBatch, KafkaConsumer } from "../ports/kafka.js";
import type { MicroBatchResult } from "./micro-batch.js";
import type { PipelineObserver } from "../observability/pipeline-observer.js";
import {
  startMicroBatchTrace,
  type MicroBatchTrace,
  type MicroBatchTraceSettings,
} from "../observability/micro-batch-trace.js";

/**
 * For clients that heartbeat from the processing loop (kafkajs): it heartbeats only once its
 * interval (3 s) has passed, so asking every second costs nothing.
 */
const HEARTBEAT_EVERY_MS = 1_000;

export interface PartitionHandlerSettings {
  readonly maxEvents: number;
  readonly lingerMs: number;
  readonly retry: BackoffSettings;
  /** What the micro-batch spans say about the pipeline; no spans without it. */
  readonly trace?: MicroBatchTraceSettings;
}

/**
 * Work tied to a micro-batch's commit (the label join, the monitor): called once its records are
 * acknowledged and before its offset commits; a rejection retries the micro-batch like a failed
 * produce. What it resolves with is called once the commit is done, so what it counts is counted
 * once however often the batch is retried.
 */
export type CommitHook = (result: MicroBatchResult) => Promise<(() => void) | undefined>;

export interface PartitionHandlerDependencies {
  readonly process: (
    topic: string,
    partition: number,
    records: readonly InputRecord[],
    trace: MicroBatchTrace,
  ) => Promise<MicroBatchResult>;
  readonly delivery: Delivery;
  readonly consumer: Pick<KafkaConsumer, "resume">;
  readonly log: Logger;
  /** Hears of every fetch, delivery, retry: the pipeline's counts and metrics. */
  readonly observer: PipelineObserver;
  /** A failure no retry can fix (a bug): the pipeline stops. */
  readonly onFatal: (error: ConsumerError) => void;
  /** @default none */
  readonly commitHook?: CommitHook;
  readonly now?: () => number;
  readonly random?: () => number;
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}[${partition}]`;
}

export class PartitionHandler {
  readonly #settings: PartitionHandlerSettings;
  readonly #deps: PartitionHandlerDependencies;
  readonly #now: () => number;
  /** Per partition: the first unprocessed offset and when it was first seen, for the linger. */
  readonly #lingering = new Map<string, { offset: string; since: number }>();
  /** Per partition: consecutive failed attempts and the pending resume. */
  readonly #retrying = new Map<string, { attempts: number; timer?: NodeJS.Timeout }>();
  #halted = false;

  constructor(settings: PartitionHandlerSettings, deps: PartitionHandlerDependencies) {
    this.#settings = settings;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The consumer's eachBatch. Never throws: failures pause the partition or stop the pipeline. */
  readonly handle = async (batch: PartitionBatch): Promise<void> => {
    const { records, topic, partition } = batch;
    const first = records[0];
    if (first === undefined || this.#halted) return;
    this.#deps.observer.fetched(topic, partition, batch.highWatermark, first.offset);
    const key = partitionKey(topic, partition);
    const { maxEvents, lingerMs } = this.#settings;

    if (records.length < maxEvents && lingerMs > 0 && batch.isRunning()) {
      // The linger counts from when the first record reached Kafka (its timestamp, capped at now
      // against a producer clock ahead of ours): a record that already waited in the topic, as
      // under load, has lingered enough, and waiting again would cost a fetch round on top.
      const seen = this.#lingering.get(key);
      const since =
        seen?.offset === first.offset ? seen.since : Math.min(this.#now(), Number(first.timestamp));
      this.#lingering.set(key, { offset: first.offset, since });
      const remaining = since + lingerMs - this.#now();
      if (remaining > 0) {
        // Unresolved: the next fetch returns these records again, with whatever came meanwhile.
        await sleep(remaining);
        return;
      }
    }
    this.#lingering.delete(key);

    for (let start = 0; start < records.length; start += maxEvents) {
      if (!batch.isRunning() || batch.isStale() || this.#halted) return;
      const chunk = records.slice(start, start + maxEvents);
      const last = chunk[chunk.length - 1]!;
      try {
        await this.#keepAlive(batch, this.#processAndDeliver(topic, partition, chunk, last));
      } catch (error) {
        this.#failed(batch, key, ConsumerError.from(error));
        return;
      }
      batch.resolveOffset(last.offset);
      this.#deps.observer.resolved(topic, partition, batch.highWatermark, last.offset);
      this.#retrying.delete(key);
    }
  };

  /** Stops handling batches and cancels pending resumes (the consumer is going away). */
  halt(): void {
    this.#halted = true;
    for (const { timer } of this.#retrying.values()) clearTimeout(timer);
    this.#retrying.clear();
  }

  async #processAndDeliver(
    topic: string,
    partition: number,
    chunk: readonly InputRecord[],
    last: InputRecord,
  ): Promise<void> {
    const trace = startMicroBatchTrace(topic, partition, chunk, this.#settings.trace);
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    let result: MicroBatchResult;
    let times: DeliveryTimes;
    let afterCommit: (() => void) | undefined;
    const hook = this.#deps.commitHook;
    try {
      result = await trace.run(() => this.#deps.process(topic, partition, chunk, trace));
      const processed = result;
      const { records } = processed;
      times = await trace.send(records, () =>
        this.#deps.delivery.deliver(
          topic,
          partition,
          records,
          nextOffset,
          hook === undefined
            ? undefined
            : async () => {
                afterCommit = await hook(processed);
              },
        ),
      );
    } catch (error) {
      trace.end(error);
      throw error;
    }
    trace.end();
    this.#deps.observer.delivered({
      records: chunk,
      deadLetters: result.deadLetters,
      lookupMisses: result.lookupMisses,
      versions: result.versions,
      arms: result.arms,
      stages: { ...result.seconds, produce: times.produce, commit: times.commit },
    });
    afterCommit?.();
  }

  /**
   * Heartbeats while `work` runs, so a slow sidecar or a retrying producer never costs the
   * assignment; nothing to do (no timer) for a client that heartbeats on its own.
   */
  async #keepAlive<T>(batch: PartitionBatch, work: Promise<T>): Promise<T> {
    const { heartbeat } = batch;
    if (heartbeat === undefined) return work;
    const timer = setInterval(() => {
      // A rebalance shows up here as an error; the client rejoins after this batch, nothing to do.
      heartbeat().catch(() => {});
    }, HEARTBEAT_EVERY_MS);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  #failed(batch: PartitionBatch, key: string, error: ConsumerError): void {
    const { log, observer } = this.#deps;
    if (!error.retryable) {
      log.error({ code: error.code }, `${key}: ${error.code}: ${error.message}; stopping`);
      this.#halted = true;
      this.#deps.onFatal(error);
      return;
    }
    if (batch.isStale()) {
      // A rebalance took or rewound the partition meanwhile: whoever owns it now reads these records
      // again from the group's committed offset. Retrying them here would be a duplicate.
      log.info({ code: error.code }, `${key}: ${error.code} on records no longer ours; dropped`);
      return;
    }
    const state = this.#retrying.get(key) ?? { attempts: 0 };
    state.attempts++;
    const delayMs = backoffDelay(state.attempts, this.#settings.retry, this.#deps.random);
    observer.retried(error);
    log.warn(
      { code: error.code, attempt: state.attempts, delayMs },
      `${key}: ${error.code}: ${error.message}; retrying in ${delayMs} ms`,
    );
    batch.pause();
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!this.#halted) this.#deps.consumer.resume(batch.topic, batch.partition);
    }, delayMs);
    this.#retrying.set(key, state);
  }
}
