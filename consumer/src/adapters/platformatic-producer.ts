/**
 * @platformatic/kafka's producer as every Sluice producer is set up (idempotent, acks from all
 * in-sync replicas, Java's key partitioner, the pipeline's compression), and the at-least-once
 * producer on it, on the caller's thread. `PlatformaticThreadProducer` runs the same one in a
 * worker thread of its own.
 */
import { Producer, ProduceAcks, type MessageToProduce } from "@platformatic/kafka";
import type { Compression } from "../config/pipeline-config.js";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import type { PlatformaticSecurityOptions } from "./kafka-security.js";
import { keyPartitioner, toMessage } from "./platformatic-records.js";
import { SendCoalescer } from "./send-coalescer.js";

/** What a producer of the client needs; plain data, so a worker thread can be given it. */
export interface PlatformaticProducerSettings {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly security: PlatformaticSecurityOptions;
  readonly compression: Compression;
}

/** How often a transactional producer retries while the coordinator finishes an abort. */
const TRANSACTION_RETRY_DELAY_MS = 100;
const TRANSACTION_RETRIES = 30;

/** A producer of `settings`; transactional with `transactionalId`. */
export function newProducer(
  settings: PlatformaticProducerSettings,
  transactionalId?: string,
): Producer {
  return new Producer({
    clientId: settings.clientId,
    bootstrapBrokers: [...settings.brokers],
    ...settings.security,
    idempotent: true,
    // Acknowledged by every in-sync replica before the input offset is committed: an output
    // lost with a broker after the commit would be an event lost.
    acks: ProduceAcks.ALL,
    partitioner: keyPartitioner(),
    compression: settings.compression,
    ...(transactionalId === undefined ? {} : transactional(transactionalId)),
  });
}

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

/** Concurrent sends share requests: one in flight, the rest coalesced behind it. */
export function coalescedSender(producer: Producer): SendCoalescer<MessageToProduce> {
  return new SendCoalescer(async (messages) => {
    await producer.send({ messages: messages as MessageToProduce[] });
  });
}

/** The at-least-once producer on the caller's thread. */
export class PlatformaticProducer implements KafkaProducer {
  readonly #producer: Producer;
  readonly #sender: SendCoalescer<MessageToProduce>;

  constructor(settings: PlatformaticProducerSettings) {
    this.#producer = newProducer(settings);
    this.#sender = coalescedSender(this.#producer);
  }

  /** Connects on the first send. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  send(records: readonly OutputRecord[]): Promise<void> {
    return this.#sender.send(records.map(toMessage));
  }

  disconnect(): Promise<void> {
    return this.#producer.close();
  }
}
