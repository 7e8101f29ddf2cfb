/**
 * The Kafka ports on @platformatic/kafka 2 (pure JavaScript, Node.js ≥ 22), the default client:
 * the cheapest per event of the clients measured (docs/benchmarks.md, "Kafka clients"), with
 * static membership (KIP-345), cooperative-sticky rebalancing and transactions whose offset
 * commits carry the consumer group's generation (KIP-447).
 *
 * - The consumer (`PlatformaticConsumer`) hands over per-partition micro-batches from a fetch loop
 *   of its own, and pauses partitions one by one.
 * - The producer is idempotent with acks from all in-sync replicas; concurrent partitions' sends
 *   share one request in flight (`SendCoalescer`). The pipeline's runs in a worker thread of its
 *   own (`PlatformaticThreadProducer`): encoding, compressing and writing the records there leaves
 *   the consumer's thread to the events.
 * - Exactly-once: one transactional producer per member (`PlatformaticTransactions`), its
 *   transactional id `<group>-<group instance id>`, stable across restarts, so a restarted member
 *   aborts whatever its killed predecessor left open. Zombies are fenced by the group metadata in
 *   each TxnOffsetCommit: a member that was replaced or missed a rebalance cannot commit.
 */
import { randomUUID } from "node:crypto";
import { Admin, type Message, type Producer } from "@platformatic/kafka";
import { silentLogger, type Logger } from "@sluice/kit";
import type {
  ConsumerSettings,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransactionalProducer,
  OutputRecord,
  ProducerOptions,
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
import {
  newProducer,
  PlatformaticProducer,
  type PlatformaticProducerSettings,
} from "./platformatic-producer.js";
import { toMessage } from "./platformatic-records.js";
import { SendCoalescer } from "./send-coalescer.js";
import { PlatformaticThreadProducer } from "./platformatic-thread-producer.js";

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
  readonly #producerSettings: PlatformaticProducerSettings;

  constructor(options: PlatformaticClientOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#security = platformaticSecurity(options.security, options.brokers);
    this.#producerSettings = {
      clientId: options.clientId,
      brokers: options.brokers,
      security: this.#security,
      compression: options.compression ?? "none",
    };
  }

  consumer(settings: ConsumerSettings): KafkaConsumer {
    return new PlatformaticConsumer(settings, {
      clientId: this.#options.clientId,
      brokers: this.#options.brokers,
      log: this.#log,
      security: this.#security,
    });
  }

  producer(options: ProducerOptions = {}): KafkaProducer {
    return options.ownThread === true
      ? new PlatformaticThreadProducer(this.#producerSettings)
      : new PlatformaticProducer(this.#producerSettings);
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
    return new PlatformaticTransactions(consumer, () =>
      newProducer(this.#producerSettings, transactionalId),
    );
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
