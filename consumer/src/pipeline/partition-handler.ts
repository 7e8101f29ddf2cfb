/**
 * What happens to one partition's fetched records: cut into micro-batches of at most
 * `maxEvents`, delivered and committed in order, the next one processed while the one before is
 * delivered; a short batch waits out the linger first, so a burst arriving over a few
 * milliseconds makes one micro-batch.
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

/** A micro-batch processed and not delivered yet. */
interface Processed {
  readonly topic: string;
  readonly partition: number;
  readonly chunk: readonly InputRecord[];
  readonly trace: MicroBatchTrace;
  readonly result: MicroBatchResult;
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
    try {
      await this.#keepAlive(batch, this.#run(batch, key));
    } catch (error) {
      this.#failed(batch, key, ConsumerError.from(error));
    }
  };

  /**
   * The fetched records in micro-batches of at most `maxEvents`, overlapped: micro-batch N+1's
   * features and inference run while N is produced and committed. Deliveries stay one at a time
   * and in offset order, each offset resolved only once its delivery (records acknowledged, offset
   * committed, or the transaction committed) is done, so order and the guarantees are those of the
   * serial loop. A micro-batch processed while its predecessor's delivery failed, or while the
   * partition went away or the consumer began to stop (when the serial loop would not have started
   * it), is dropped undelivered: its records stay unresolved and are fetched again (feature state
   * answers a replayed offset as before, without recording it twice).
   * Exactly-once overlaps too: processing touches no transaction, and the next one begins only
   * after the previous one committed.
   */
  async #run(batch: PartitionBatch, key: string): Promise<void> {
    const { records, topic, partition } = batch;
    const { maxEvents } = this.#settings;
    const current = () => batch.isRunning() && !batch.isStale() && !this.#halted;
    let delivering: Promise<void> | undefined;
    try {
      for (let start = 0; start < records.length && current(); start += maxEvents) {
        const chunk = records.slice(start, start + maxEvents);
        const processed = await this.#process(topic, partition, chunk);
        if (delivering !== undefined) {
          const previous = delivering;
          delivering = undefined;
          await previous.catch((error: unknown) => {
            processed.trace.end();
            throw error;
          });
          // The serial loop would not have started this one: drop it, undelivered.
          if (!current()) {
            processed.trace.end();
            return;
          }
        }
        delivering = this.#deliver(batch, key, processed);
        // Rejections are awaited above or below; none may go unobserved meanwhile.
        delivering.catch(() => {});
      }
    } finally {
      // A processing failure still lets the micro-batch before it finish its delivery.
      if (delivering !== undefined) await delivering;
    }
  }

  /** Stops handling batches and cancels pending resumes (the consumer is going away). */
  halt(): void {
    this.#halted = true;
    for (const { timer } of this.#retrying.values()) clearTimeout(timer);
    this.#retrying.clear();
  }

  /** Features, inference and records of one micro-batch, traced. */
  async #process(
    topic: string,
    partition: number,
    chunk: readonly InputRecord[],
  ): Promise<Processed> {
    const trace = startMicroBatchTrace(topic, partition, chunk, this.#settings.trace);
    try {
      const result = await trace.run(() => this.#deps.process(topic, partition, chunk, trace));
      return { topic, partition, chunk, trace, result };
    } catch (error) {
      trace.end(error);
      throw error;
    }
  }

  /** Delivers a processed micro-batch and resolves its offset once it is delivered. */
  async #deliver(
    batch: PartitionBatch,
    key: string,
    { topic, partition, chunk, trace, result }: Processed,
  ): Promise<void> {
    const last = chunk[chunk.length - 1]!;
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    const { records } = result;
    let times: DeliveryTimes;
    let afterCommit: (() => void) | undefined;
    const hook = this.#deps.commitHook;
    try {
      times = await trace.send(records, () =>
        this.#deps.delivery.deliver(
          topic,
          partition,
          records,
          nextOffset,
          hook === undefined
            ? undefined
            : async () => {
                afterCommit = await hook(result);
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
    batch.resolveOffset(last.offset);
    this.#deps.observer.resolved(topic, partition, batch.highWatermark, last.offset);
    this.#retrying.delete(key);
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
