/**
 * Getting a micro-batch's records out and its offset committed, in one of two guarantees.
 *
 * at-least-once: the idempotent producer sends every record (acks from all in-sync replicas),
 * then the offset after the batch is committed. A crash between the two replays the batch: its
 * records appear twice, none is ever missing.
 *
 * exactly-once: one transaction per micro-batch holds the records and the offset commit, so a
 * read-committed reader sees each batch's records once or not at all. kafkajs lacks KIP-447
 * (fencing by consumer group generation), so zombies are fenced the older way: one transactional
 * id per input partition, `<group>-<topic>-<partition>`. Whoever processes a partition next
 * starts a producer with the same id, which aborts the previous owner's open transaction and
 * fences it out.
 */
import { ConsumerError } from "../errors.js";
import type {
  KafkaClient,
  OutputRecord,
  KafkaProducer,
  KafkaConsumer,
  KafkaTransactionalProducer,
} from "../ports/kafka.js";
import { errorMessage } from "@sluice/kit";

export interface Delivery {
  /**
   * Resolves once `records` are durable and `nextOffset` is committed for the partition, with the
   * time each step took. Rejects with a retryable `produce_failed` or `commit_failed`; the caller
   * then retries the batch.
   */
  deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
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
  readonly #consumer: Pick<KafkaConsumer, "commit">;

  constructor(producer: KafkaProducer, consumer: Pick<KafkaConsumer, "commit">) {
    this.#producer = producer;
    this.#consumer = consumer;
  }

  async deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
  ): Promise<DeliveryTimes> {
    const startedAt = performance.now();
    try {
      await this.#producer.send(records);
    } catch (error) {
      throw failure("produce_failed", `producing ${records.length} records`, error);
    }
    const producedAt = performance.now();
    try {
      await this.#consumer.commit([{ topic, partition, offset: nextOffset }]);
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

export class ExactlyOnceDelivery implements Delivery {
  readonly #kafka: KafkaClient;
  readonly #groupId: string;
  readonly #producers = new Map<string, Promise<KafkaTransactionalProducer>>();

  constructor(kafka: KafkaClient, groupId: string) {
    this.#kafka = kafka;
    this.#groupId = groupId;
  }

  /** The transactional id of an input partition's producer. */
  transactionalId(topic: string, partition: number): string {
    return `${this.#groupId}-${topic}-${partition}`;
  }

  async deliver(
    topic: string,
    partition: number,
    records: readonly OutputRecord[],
    nextOffset: string,
  ): Promise<DeliveryTimes> {
    const startedAt = performance.now();
    const id = this.transactionalId(topic, partition);
    let producer: KafkaTransactionalProducer;
    try {
      producer = await this.#producer(id);
    } catch (error) {
      throw failure("produce_failed", `starting transactional producer "${id}"`, error);
    }
    try {
      await producer.sendWithOffsets(records, this.#groupId, [
        { topic, partition, offset: nextOffset },
      ]);
    } catch (error) {
      // A fenced or broken producer cannot go on; the retry starts a fresh one with the same id.
      this.#drop(id);
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
    const keep = new Set(
      partitions.map(({ topic, partition }) => this.transactionalId(topic, partition)),
    );
    for (const id of [...this.#producers.keys()]) if (!keep.has(id)) this.#drop(id);
  }

  async close(): Promise<void> {
    const producers = [...this.#producers.values()];
    this.#producers.clear();
    await Promise.all(
      producers.map((pending) => pending.then((producer) => producer.disconnect()).catch(() => {})),
    );
  }

  #producer(id: string): Promise<KafkaTransactionalProducer> {
    let pending = this.#producers.get(id);
    if (pending === undefined) {
      const producer = this.#kafka.transactionalProducer(id);
      const connecting = producer.connect().then(() => producer);
      connecting.catch(() => {
        if (this.#producers.get(id) === connecting) this.#producers.delete(id);
      });
      this.#producers.set(id, connecting);
      pending = connecting;
    }
    return pending;
  }

  #drop(id: string): void {
    const pending = this.#producers.get(id);
    this.#producers.delete(id);
    void pending?.then((producer) => producer.disconnect()).catch(() => {});
  }
}
