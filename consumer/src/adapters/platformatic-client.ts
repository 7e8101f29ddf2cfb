/**
 * The Kafka ports on @platformatic/kafka 2 (pure JavaScript, Node.js ≥ 22), the default client:
 * the cheapest per event of the clients measured (docs/benchmarks.md, "Kafka clients"), with
 * static membership (KIP-345), cooperative-sticky rebalancing and transactions whose offset
 * commits carry the consumer group's generation (KIP-447).
 *
 * - The consumer (`PlatformaticConsumer`) hands over per-partition micro-batches from a fetch loop
 *   of its own, and pauses partitions one by one.
 * - The producer is idempotent with acks from all in-sync replicas; concurrent partitions' sends
 *   share one request in flight (`SendCoalescer`).
 * - Exactly-once: one transactional producer per member (`PlatformaticTransactions`), its
 *   transactional id `<group>-<group instance id>`, stable across restarts, so a restarted member
 *   aborts whatever its killed predecessor left open. Zombies are fenced by the group metadata in
 *   each TxnOffsetCommit: a member that was replaced or missed a rebalance cannot commit.
 */
import { randomUUID } from "node:crypto";
import { Admin, Producer, ProduceAcks, type Message } from "@platformatic/kafka";
import { silentLogger, type Logger } from "@sluice/kit";
import type {
  ConsumerSettings,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransactionalProducer,
  OutputRecord,
  TopicPartitionOffset,
} from "../ports/kafka.js";
import type { KafkaSecurity } from "../config/kafka-security.js";
import type { Compression } from "../config/pipeline-config.js";
import {
  platformaticSecurity,
  withSecurityReason,
  type PlatformaticSecurityOptions,
} from "./kafka-security.js";
import { PlatformaticConsumer } from "./platformatic-consumer.js";
import { keyPartitioner, toMessage } from "./platformatic-records.js";
import { SendCoalescer } from "./send-coalescer.js";

export interface PlatformaticClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** What the adapter has to say (retries, rebalances, lost membership). @default dropped */
  readonly log?: Logger;
  /** TLS and SASL for every connection: consumer, producers, admin. @default plaintext */
  readonly security?: KafkaSecurity;
  /** How the producers compress record batches. @default "none" */
  readonly compression?: Compression;
}

export class PlatformaticClient implements KafkaClient {
  readonly #options: PlatformaticClientOptions;
  readonly #log: Logger;
  readonly #security: PlatformaticSecurityOptions;

  constructor(options: PlatformaticClientOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#security = platformaticSecurity(options.security, options.brokers);
  }

  consumer(settings: ConsumerSettings): KafkaConsumer {
    return new PlatformaticConsumer(settings, {
      clientId: this.#options.clientId,
      brokers: this.#options.brokers,
      log: this.#log,
      security: this.#security,
    });
  }

  producer(): KafkaProducer {
    return new PlatformaticProducer(this.#producer());
  }

  transactionalProducer(consumer: KafkaConsumer): KafkaTransactionalProducer {
    if (!(consumer instanceof PlatformaticConsumer)) {
      throw new TypeError(
        "PlatformaticClient.transactionalProducer: expected a consumer made by a PlatformaticClient",
      );
    }
    // Without static membership a restarted process is a new member with a new id: what its
    // predecessor left open is aborted by the coordinator after the transaction timeout instead.
    const transactionalId = `${consumer.groupId}-${consumer.groupInstanceId ?? randomUUID()}`;
    return new PlatformaticTransactions(consumer, () => this.#producer(transactionalId));
  }

  async ensureTopics(topics: readonly string[]): Promise<string[]> {
    const admin = new Admin({
      clientId: this.#options.clientId,
      bootstrapBrokers: [...this.#options.brokers],
      ...this.#security,
    });
    try {
      const existing = new Set(await admin.listTopics());
      const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
      if (missing.length > 0) {
        // -1: the broker's num.partitions and default.replication.factor.
        await admin.createTopics({ topics: missing, partitions: -1, replicas: -1 });
      }
      return missing;
    } catch (error) {
      // The pipeline's first contact with the cluster: where a wrong password or CA shows.
      throw withSecurityReason(error);
    } finally {
      await admin.close();
    }
  }

  #producer(transactionalId?: string): Producer {
    return new Producer({
      clientId: this.#options.clientId,
      bootstrapBrokers: [...this.#options.brokers],
      ...this.#security,
      idempotent: true,
      // Acknowledged by every in-sync replica before the input offset is committed: an output
      // lost with a broker after the commit would be an event lost.
      acks: ProduceAcks.ALL,
      partitioner: keyPartitioner(),
      compression: this.#options.compression ?? "none",
      ...(transactionalId === undefined ? {} : transactional(transactionalId)),
    });
  }
}

/** How often a transactional producer retries while the coordinator finishes an abort. */
const TRANSACTION_RETRY_DELAY_MS = 100;
const TRANSACTION_RETRIES = 30;

function transactional(transactionalId: string) {
  return {
    transactionalId,
    // InitProducerId must say "a new producer" (-1, -1): @platformatic/kafka 2.12 sends 0 and 0 by
    // default, which the coordinator takes for an older epoch of the id's current producer and
    // refuses (PRODUCER_FENCED) as soon as the id was ever used, e.g. by the process before a
    // restart. With -1 the coordinator bumps the epoch and aborts what the old one left open.
    producerId: -1n,
    producerEpoch: -1,
    // That abort takes milliseconds; meanwhile the coordinator answers CONCURRENT_TRANSACTIONS.
    // The library's 1 s between retries would cost a restart a second.
    retryDelay: TRANSACTION_RETRY_DELAY_MS,
    retries: TRANSACTION_RETRIES,
  };
}

class PlatformaticProducer implements KafkaProducer {
  readonly #producer: Producer;
  /** Concurrent partitions' sends share requests: one in flight, the rest coalesced behind it. */
  readonly #coalescer: SendCoalescer<OutputRecord>;

  constructor(producer: Producer) {
    this.#producer = producer;
    this.#coalescer = new SendCoalescer(async (records) => {
      await producer.send({ messages: records.map(toMessage) });
    });
  }

  /** Connects on the first send. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  send(records: readonly OutputRecord[]): Promise<void> {
    return this.#coalescer.send(records);
  }

  disconnect(): Promise<void> {
    return this.#producer.close();
  }
}

/** One partition's micro-batch in a transaction: its records and the offset after them. */
interface TransactionPart {
  readonly records: readonly OutputRecord[];
  readonly offsets: readonly TopicPartitionOffset[];
}

/**
 * The member's transactions. A producer runs one transaction at a time, so the micro-batches of
 * partitions that finish while one is in flight go together in the next (`SendCoalescer` again):
 * one transaction for all of them, committed or aborted as a whole.
 */
class PlatformaticTransactions implements KafkaTransactionalProducer {
  readonly #consumer: PlatformaticConsumer;
  readonly #makeProducer: () => Producer;
  #producer: Producer;
  readonly #coalescer: SendCoalescer<TransactionPart>;

  constructor(consumer: PlatformaticConsumer, makeProducer: () => Producer) {
    this.#consumer = consumer;
    this.#makeProducer = makeProducer;
    this.#producer = makeProducer();
    this.#coalescer = new SendCoalescer((parts) => this.#transact(parts));
  }

  /**
   * Registers the transactional id (InitProducerId) before the consumer joins its group: whatever a
   * killed predecessor with the same id left open is resolved (aborted, or its commit completed)
   * before this member reads the group's committed offsets, so it starts where that transaction
   * left the partitions.
   */
  async connect(): Promise<void> {
    const producer = this.#producer;
    try {
      const transaction = await producer.beginTransaction();
      // Nothing was sent: forgetting it locally is all there is to do.
      await transaction.cancel();
    } catch (error) {
      this.#replace(producer);
      throw error;
    }
  }

  async sendWithOffsets(
    records: readonly OutputRecord[],
    offsets: readonly TopicPartitionOffset[],
  ): Promise<void> {
    // Fails fast, outside any shared transaction, for partitions this member no longer owns.
    for (const { topic, partition } of offsets) this.#consumer.groupMetadata(topic, partition);
    await this.#coalescer.send([{ records, offsets }]);
  }

  /** Fencing does not depend on the partitions: one producer serves them all. */
  assigned(): void {}

  disconnect(): Promise<void> {
    return this.#producer.close();
  }

  async #transact(parts: readonly TransactionPart[]): Promise<void> {
    const producer = this.#producer;
    const transaction = await producer.beginTransaction().catch((error: unknown) => {
      // The library keeps a transaction that failed to begin as its current one.
      this.#replace(producer);
      throw error;
    });
    try {
      const messages = parts.flatMap((part) => part.records.map(toMessage));
      if (messages.length > 0) await transaction.send({ messages });
      await transaction.addConsumer(this.#consumer.client);
      // One TxnOffsetCommit per partition, one at a time: the library merges concurrent ones.
      for (const { topic, partition, offset } of parts.flatMap((part) => part.offsets)) {
        // The group's generation and member id as they are now: the coordinator refuses them if
        // this member has been replaced or a rebalance has moved on without it (KIP-447).
        const consumer = this.#consumer.groupMetadata(topic, partition);
        // The library commits the offset after the message it is given.
        const last = { topic, partition, offset: BigInt(offset) - 1n, metadata: { consumer } };
        await transaction.addOffset(last as unknown as Message);
      }
      await transaction.commit();
    } catch (error) {
      if (!transaction.completed) {
        const aborted = await transaction.abort().then(
          () => true,
          () => false,
        );
        // Fenced, or the coordinator unreachable: a new producer with the same transactional id
        // bumps its epoch, which aborts whatever this one left open.
        if (!aborted) this.#replace(producer);
      }
      throw error;
    }
  }

  /** Puts a fresh producer with the same transactional id in place of `broken`. */
  #replace(broken: Producer): void {
    if (this.#producer === broken) this.#producer = this.#makeProducer();
    void broken.close(true).catch(() => {});
  }
}
