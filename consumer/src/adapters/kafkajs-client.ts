/**
 * The Kafka ports (`KafkaClient` and the consumer and producers it makes) on kafkajs 2.2, selected
 * with `kafka.client: kafkajs`. The consumer runs `eachBatch` with auto-resolve and auto-commit
 * off, so offsets move only when the pipeline says so; producers are idempotent with acks from
 * all in-sync replicas and one request in flight (kafkajs requires that for idempotence).
 *
 * kafkajs has no static membership (a restarted member waits out the dead one's session), no
 * cooperative rebalancing and no KIP-447: exactly-once fences zombies with one transactional id
 * per input partition instead (`KafkajsPartitionTransactions`).
 */
import {
  Kafka,
  Partitioners,
  logLevel,
  type CompressionTypes,
  type Consumer,
  type KafkaMessage,
  type LogEntry,
  type Producer,
} from "kafkajs";
import { silentLogger, type Logger } from "@sluice/kit";
import type {
  ConsumerRunOptions,
  ConsumerSettings,
  InputRecord,
  KafkaClient,
  OutputRecord,
  KafkaProducer,
  KafkaConsumer,
  ProducerOptions,
  TopicPartitionOffset,
  KafkaTransactionalProducer,
} from "../ports/kafka.js";
import type { KafkaSecurity } from "../config/kafka-security.js";
import type { Compression } from "../config/pipeline-config.js";
import { kafkajsSecurity, withSecurityReason } from "./kafka-security.js";
import { kafkajsCompression, registerKafkajsZstd } from "./kafkajs-zstd.js";
import { SendCoalescer } from "./send-coalescer.js";

export interface KafkajsClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** kafkajs's own log lines (warnings and errors) and this adapter's go here. @default dropped */
  readonly log?: Logger;
  /** TLS and SASL for every connection: consumer, producers, admin. @default plaintext */
  readonly security?: KafkaSecurity;
  /** How the producers compress record batches: none, gzip or zstd. @default "none" */
  readonly compression?: Compression;
}

/**
 * A new group starts at the earliest offset: a pipeline started after its producer must not skip
 * the events already waiting.
 */
const FROM_BEGINNING = true;
/**
 * Outputs are acknowledged by every in-sync replica before the input offset is committed: an
 * output lost with a broker after the commit would be an event lost.
 */
const ACKS_ALL = -1;

const PRODUCER_SETTINGS = {
  idempotent: true,
  maxInFlightRequests: 1,
  // Java's murmur2 partitioner (kafkajs 2's default, named so it does not warn): a key lands on
  // the partition a Java or librdkafka producer would pick, so per-user order holds across them.
  createPartitioner: Partitioners.DefaultPartitioner,
} as const;

const KAFKAJS_LEVELS: Partial<Record<logLevel, "error" | "warn" | "info" | "debug">> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/**
 * What a broker answers while a group coordinator or a partition leader is still being elected or
 * loaded (every start of a fresh broker, every rebalance): kafkajs logs each such response at
 * ERROR and then retries it itself. Nothing for the user to do, so these are debug lines.
 */
const RETRIED_BY_KAFKAJS =
  /coordinator is loading|coordinator is not available|not the correct coordinator|leader not available|leadership election|not the leader|group is rebalancing|rebalance in progress/i;

/** The level of one kafkajs log entry in Sluice's log. */
export function kafkajsLevel(
  level: logLevel,
  entry: { message?: unknown; error?: unknown },
): "error" | "warn" | "info" | "debug" {
  const mapped = KAFKAJS_LEVELS[level] ?? "info";
  if (mapped !== "error" && mapped !== "warn") return mapped;
  const retried = [entry.message, entry.error].some(
    (text) => typeof text === "string" && RETRIED_BY_KAFKAJS.test(text),
  );
  return retried ? "debug" : mapped;
}

export class KafkajsClient implements KafkaClient {
  readonly #kafka: Kafka;
  readonly #log: Logger;
  readonly #compression: CompressionTypes;

  constructor(options: KafkajsClientOptions) {
    const log = options.log ?? silentLogger;
    this.#log = log;
    this.#compression = kafkajsCompression(options.compression ?? "none");
    // Read zstd batches too (other clients' outputs), not only write them.
    registerKafkajsZstd();
    this.#kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      ...kafkajsSecurity(options.security),
      // kafkajs logs pauses, joins and every retry at INFO; only what needs attention gets through.
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ namespace, level, log: entry }: LogEntry) => {
          const { message, timestamp: _timestamp, ...fields } = entry;
          log[kafkajsLevel(level, entry)](fields, `kafkajs ${namespace}: ${message}`);
        },
    });
  }

  consumer(settings: ConsumerSettings): KafkaConsumer {
    if (settings.groupInstanceId !== undefined) {
      this.#log.warn(
        { groupInstanceId: settings.groupInstanceId },
        "kafkajs has no static membership: group instance id ignored; a restarted member waits out the session timeout",
      );
    }
    return new KafkajsConsumer(
      settings.groupId,
      this.#kafka.consumer({
        groupId: settings.groupId,
        maxWaitTimeInMs: settings.maxWaitTimeMs,
        sessionTimeout: settings.sessionTimeoutMs,
        // Three heartbeats per session, as Kafka advises; kafkajs's 3 s default unless shorter.
        heartbeatInterval: Math.min(3_000, Math.floor(settings.sessionTimeoutMs / 3)),
      }),
    );
  }

  /** kafkajs sends from the caller's thread: it has no producer of a thread of its own. */
  producer(options: ProducerOptions = {}): KafkaProducer {
    if (options.ownThread === true) {
      throw new TypeError(
        "KafkajsClient.producer: kafkajs has no producer in a thread of its own (ownThread: true)",
      );
    }
    return new KafkajsProducer(this.#kafka.producer({ ...PRODUCER_SETTINGS }), this.#compression);
  }

  async ensureTopics(topics: readonly string[]): Promise<string[]> {
    const admin = this.#kafka.admin();
    // The pipeline's first contact with the cluster: where a wrong password or CA shows.
    await admin.connect().catch((error: unknown) => {
      throw withSecurityReason(error);
    });
    try {
      const existing = new Set(await admin.listTopics());
      const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
      if (missing.length > 0) {
        // -1: the broker's num.partitions and default.replication.factor.
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({ topic, numPartitions: -1, replicationFactor: -1 })),
        });
      }
      return missing;
    } finally {
      await admin.disconnect();
    }
  }

  transactionalProducer(consumer: KafkaConsumer): KafkaTransactionalProducer {
    if (!(consumer instanceof KafkajsConsumer)) {
      throw new TypeError(
        "KafkajsClient.transactionalProducer: expected a consumer made by a KafkajsClient",
      );
    }
    return new KafkajsPartitionTransactions(consumer, this.#compression, (transactionalId) =>
      this.#kafka.producer({ ...PRODUCER_SETTINGS, transactionalId }),
    );
  }
}

function toInputRecord(message: KafkaMessage): InputRecord {
  return {
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: message.headers ?? {},
    timestamp: message.timestamp,
  };
}

/** kafkajs wants one `topicMessages` entry per topic. */
function byTopic(records: readonly OutputRecord[]) {
  const topics = new Map<
    string,
    {
      key: Buffer | string | null;
      value: Buffer | string | null;
      headers: OutputRecord["headers"];
    }[]
  >();
  for (const { topic, key, value, headers } of records) {
    let messages = topics.get(topic);
    if (messages === undefined) topics.set(topic, (messages = []));
    messages.push({ key, value, headers });
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

function offsetsByTopic(offsets: readonly TopicPartitionOffset[]) {
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of offsets) {
    let partitions = topics.get(topic);
    if (partitions === undefined) topics.set(topic, (partitions = []));
    partitions.push({ partition, offset });
  }
  return [...topics].map(([topic, partitions]) => ({ topic, partitions }));
}

class KafkajsConsumer implements KafkaConsumer {
  readonly groupId: string;
  readonly #consumer: Consumer;
  /** `topic[partition]` of the partitions assigned at the last join. */
  #assigned = new Set<string>();

  constructor(groupId: string, consumer: Consumer) {
    this.groupId = groupId;
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#assigned = new Set(
        Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => `${topic}[${partition}]`),
        ),
      );
    });
  }

  /** Whether the last join assigned `partition` of `topic` to this member. */
  owns(topic: string, partition: number): boolean {
    return this.#assigned.has(`${topic}[${partition}]`);
  }

  connect(): Promise<void> {
    return this.#consumer.connect();
  }

  subscribe(topic: string): Promise<void> {
    return this.#consumer.subscribe({ topics: [topic], fromBeginning: FROM_BEGINNING });
  }

  run({ concurrency, eachBatch }: ConsumerRunOptions): Promise<void> {
    return this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: (payload) =>
        eachBatch({
          topic: payload.batch.topic,
          partition: payload.batch.partition,
          records: payload.batch.messages.map(toInputRecord),
          highWatermark: payload.batch.highWatermark,
          resolveOffset: (offset) => payload.resolveOffset(offset),
          heartbeat: () => payload.heartbeat(),
          isRunning: () => payload.isRunning(),
          isStale: () => payload.isStale(),
          pause: () => payload.pause(),
        }),
    });
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return this.#consumer.commitOffsets(offsets.map((offset) => ({ ...offset })));
  }

  resume(topic: string, partition: number): void {
    this.#consumer.resume([{ topic, partitions: [partition] }]);
  }

  onAssignment(
    listener: (assigned: readonly { topic: string; partition: number }[]) => void,
  ): void {
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (event) => {
      listener(
        Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => ({ topic, partition })),
        ),
      );
    });
  }

  onCrash(listener: (error: Error) => void): void {
    this.#consumer.on(this.#consumer.events.CRASH, (event) => {
      // kafkajs restarts itself after a retriable error; only a final stop is a crash here.
      if (!event.payload.restart) listener(event.payload.error);
    });
  }

  disconnect(): Promise<void> {
    return this.#consumer.disconnect();
  }
}

class KafkajsProducer implements KafkaProducer {
  readonly #producer: Producer;
  /** Concurrent partitions' sends share requests: one in flight, the rest coalesced behind it. */
  readonly #coalescer: SendCoalescer<OutputRecord>;

  constructor(producer: Producer, compression: CompressionTypes) {
    this.#producer = producer;
    this.#coalescer = new SendCoalescer(async (records) => {
      await producer.sendBatch({ topicMessages: byTopic(records), acks: ACKS_ALL, compression });
    });
  }

  connect(): Promise<void> {
    return this.#producer.connect();
  }

  send(records: readonly OutputRecord[]): Promise<void> {
    return this.#coalescer.send(records);
  }

  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }
}

/**
 * Exactly-once without KIP-447: one transactional producer per input partition, with the id
 * `<group>-<topic>-<partition>`. Whoever processes a partition next starts a producer with the same
 * id, which aborts the previous owner's open transaction and fences it out.
 */
class KafkajsPartitionTransactions implements KafkaTransactionalProducer {
  readonly #consumer: KafkajsConsumer;
  readonly #groupId: string;
  readonly #compression: CompressionTypes;
  readonly #makeProducer: (transactionalId: string) => Producer;
  readonly #producers = new Map<string, Promise<Producer>>();

  constructor(
    consumer: KafkajsConsumer,
    compression: CompressionTypes,
    makeProducer: (transactionalId: string) => Producer,
  ) {
    this.#consumer = consumer;
    this.#groupId = consumer.groupId;
    this.#compression = compression;
    this.#makeProducer = makeProducer;
  }

  /** Producers connect on the first transaction of their partition. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  async sendWithOffsets(
    records: readonly OutputRecord[],
    offsets: readonly TopicPartitionOffset[],
  ): Promise<void> {
    const first = offsets[0];
    if (
      first === undefined ||
      offsets.some((o) => o.topic !== first.topic || o.partition !== first.partition)
    ) {
      throw new TypeError(
        "KafkajsPartitionTransactions: expected the offsets of exactly one partition",
      );
    }
    if (!this.#consumer.owns(first.topic, first.partition)) {
      // The coordinator would take the commit (it checks no ownership): refuse it here.
      throw new Error(`${first.topic}[${first.partition}] is not assigned to this member any more`);
    }
    const id = this.#transactionalId(first.topic, first.partition);
    const producer = await this.#producer(id);
    const transaction = await producer.transaction().catch((error: unknown) => {
      this.#drop(id);
      throw error;
    });
    try {
      if (records.length > 0) {
        await transaction.sendBatch({
          topicMessages: byTopic(records),
          acks: ACKS_ALL,
          compression: this.#compression,
        });
      }
      await transaction.sendOffsets({
        consumerGroupId: this.#groupId,
        topics: offsetsByTopic(offsets),
      });
      await transaction.commit();
    } catch (error) {
      // Aborting may fail too (a fenced producer cannot); the first error is the one to report.
      if (transaction.isActive()) await transaction.abort().catch(() => {});
      // A fenced or broken producer cannot go on; the retry starts a fresh one with the same id.
      this.#drop(id);
      throw error;
    }
  }

  assigned(partitions: readonly { topic: string; partition: number }[]): void {
    const keep = new Set(
      partitions.map(({ topic, partition }) => this.#transactionalId(topic, partition)),
    );
    for (const id of [...this.#producers.keys()]) if (!keep.has(id)) this.#drop(id);
  }

  async disconnect(): Promise<void> {
    const producers = [...this.#producers.values()];
    this.#producers.clear();
    await Promise.all(
      producers.map((pending) => pending.then((producer) => producer.disconnect()).catch(() => {})),
    );
  }

  #transactionalId(topic: string, partition: number): string {
    return `${this.#groupId}-${topic}-${partition}`;
  }

  #producer(id: string): Promise<Producer> {
    let pending = this.#producers.get(id);
    if (pending === undefined) {
      const producer = this.#makeProducer(id);
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
