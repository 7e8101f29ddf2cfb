/**
 * Getting a micro-batch's records out and its offset committed, in one of two guarantees.
 *
 * at-least-once: the idempotent producer sends every record (acks from all in-sync replicas),
 * then the offset after the batch is committed. A crash between the two replays the batch: its
 * records appear twice, none is ever missing.
 *
 * exactly-once: one transaction per micro-batch holds the records and the offset commit, so a
 * read-committed reader sees each batch's records once or not at all. The member's transactional
 * producer (`KafkaClient.transactionalProducer`) fences zombies: a member that lost its partitions
 * cannot commit their offsets any more, so its transaction aborts and its records stay invisible.
 * How it fences is the adapter's business (the group's generation with the offsets, KIP-447, or
 * one transactional id per input partition where the client lacks KIP-447).
 */
import { ConsumerError } from "../errors.js";
import type {
  OutputRecord,
  KafkaProducer,
  KafkaConsumer,
  KafkaTransactionalProducer,
  TopicPartitionOffset,
} from "../ports/kafka.js";
import { TurnCoalescer } from "./turn-coalescer.js";
import { errorMessage } from "@sluice/kit";

export interface Delivery {
  /**
   * Resolves once `records` are durable and `nextOffset` is committed for the partition, with the
   * time each step took. Rejects with a retryable `produce_failed` or `commit_failed`; the caller
   * then retries the batch. `beforeCommit` runs once the records are acknowledged and before the
   * offset commits (exactly-once: before the transaction, which holds both); its rejection
   * fails the delivery as it came, so the batch is retried.
   */
  deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
    beforeCommit?: () => Promise<void>,
  ): Promise<DeliveryTimes>;
  /** The partitions this member owns now: resources held for others can go. */
  assigned(partitions: readonly { topic: string; partition: number }[]): void;
  close(): Promise<void>;
}

/** Seconds to produce and to commit; `commit` is undefined when the produce step committed (a transaction). */
export interface DeliveryTimes {
  readonly produce: number;
  readonly commit: number | undefined;
}

function failure(
  code: "produce_failed" | "commit_failed",
  what: string,
  error: unknown,
): ConsumerError {
  const reason = errorMessage(error);
  return new ConsumerError(code, `${what}: ${reason}`, { cause: error, retryable: true });
}

export class AtLeastOnceDelivery implements Delivery {
  readonly #producer: KafkaProducer;
  /**
   * The commits of the partitions whose micro-batches were delivered in one turn of the event loop
   * go out as one OffsetCommit (the partitions of a fetch response travel together). One that
   * fails is tried again partition by partition, so a partition a rebalance took meanwhile fails
   * only its own micro-batch; each that still fails retries its micro-batch.
   */
  readonly #commits: TurnCoalescer<TopicPartitionOffset, void>;

  constructor(producer: KafkaProducer, consumer: Pick<KafkaConsumer, "commit">) {
    this.#producer = producer;
    this.#commits = new TurnCoalescer({
      size: () => 1,
      limit: Number.POSITIVE_INFINITY,
      run: async (offsets) => {
        await consumer.commit(latestPerPartition(offsets));
        return offsets.map(() => undefined);
      },
      alone: () => true,
    });
  }

  async deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
    beforeCommit?: () => Promise<void>,
  ): Promise<DeliveryTimes> {
    const startedAt = performance.now();
    try {
      await this.#producer.send(records);
    } catch (error) {
      throw failure("produce_failed", `producing ${records.length} records`, error);
    }
    if (beforeCommit !== undefined) await beforeCommit();
    const producedAt = performance.now();
    try {
      await this.#commits.call({ topic, partition, offset: nextOffset });
    } catch (error) {
      throw failure(
        "commit_failed",
        `committing ${topic}[${partition}] offset ${nextOffset}`,
        error,
      );
    }
    return {
      produce: (producedAt - startedAt) / 1000,
      commit: (performance.now() - producedAt) / 1000,
    };
  }

  assigned(): void {}

  close(): Promise<void> {
    return this.#producer.disconnect();
  }
}

/** One offset per partition, the highest: a partition delivers one micro-batch at a time, so this only guards. */
function latestPerPartition(offsets: readonly TopicPartitionOffset[]): TopicPartitionOffset[] {
  const latest = new Map<string, TopicPartitionOffset>();
  for (const offset of offsets) {
    const key = `${offset.topic}\n${offset.partition}`;
    const seen = latest.get(key);
    if (seen === undefined || BigInt(offset.offset) > BigInt(seen.offset)) latest.set(key, offset);
  }
  return [...latest.values()];
}

export class ExactlyOnceDelivery implements Delivery {
  readonly #producer: KafkaTransactionalProducer;

  constructor(producer: KafkaTransactionalProducer) {
    this.#producer = producer;
  }

  async deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
    beforeCommit?: () => Promise<void>,
  ): Promise<DeliveryTimes> {
    // The records and the commit are one transaction: what must precede the commit precedes it.
    if (beforeCommit !== undefined) await beforeCommit();
    const startedAt = performance.now();
    try {
      await this.#producer.sendWithOffsets(records, [{ topic, partition, offset: nextOffset }]);
    } catch (error) {
      throw failure(
        "produce_failed",
        `transaction of ${records.length} records and ${topic}[${partition}] offset ${nextOffset}`,
        error,
      );
    }
    // The records, the offsets and the commit are one transaction: one step to measure.
    return { produce: (performance.now() - startedAt) / 1000, commit: undefined };
  }

  assigned(partitions: readonly { topic: string; partition: number }[]): void {
    this.#producer.assigned(partitions);
  }

  close(): Promise<void> {
    return this.#producer.disconnect();
  }
}
