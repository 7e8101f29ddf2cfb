/**
 * The pipeline's view of Kafka: a consumer group that hands over one partition's fetched records
 * at a time, an idempotent producer, and a transactional producer bound to the consumer. Nothing
 * here names a Kafka library: `adapters/platformatic-client.ts` (the default) and
 * `adapters/kafkajs-client.ts` implement it, and a librdkafka-based client would be one more file
 * in adapters/.
 */

export type HeaderValue = Buffer | string;
export type RecordHeaders = Record<string, HeaderValue | HeaderValue[] | undefined>;

/** One consumed record. */
export interface InputRecord {
  /** Decimal offset. */
  readonly offset: string;
  readonly key: Buffer | null;
  /** null for a tombstone. */
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
  /** The record's timestamp, epoch milliseconds as decimal text (Kafka's CreateTime by default). */
  readonly timestamp: string;
}

/** One record to produce. */
export interface OutputRecord {
  readonly topic: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers: RecordHeaders;
}

export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read, as Kafka commits it: last processed + 1. */
  readonly offset: string;
}

/** The records fetched for one partition, and what may be done about them. */
export interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly InputRecord[];
  /** The partition's high watermark (the offset after its last record) when these were fetched. */
  readonly highWatermark: string;
  /**
   * Marks records up to `offset` as done: the next fetch starts after it. Commits nothing.
   * Records not resolved are fetched again.
   */
  resolveOffset(offset: string): void;
  /**
   * Tells the group this member is alive; throws when the group is rebalancing. Present only when
   * the client heartbeats from the processing loop (kafkajs): the caller then calls it every second
   * or so while a micro-batch runs. Absent when the client heartbeats on its own timer.
   */
  readonly heartbeat?: () => Promise<void>;
  /** False once the consumer is stopping: finish the micro-batch in hand, start no other. */
  isRunning(): boolean;
  /**
   * True when the records are outdated (a seek, a rebalance that took the partition or rewound it):
   * process no more of them, and do not retry them; they come again from where the group committed.
   */
  isStale(): boolean;
  /** Stops fetching this partition; the returned function (or `KafkaConsumer.resume`) restarts it. */
  pause(): () => void;
}

export interface ConsumerRunOptions {
  /** How many partitions' batches are handled at once. */
  readonly concurrency: number;
  /** Handles one partition's batch; the next fetch of that partition waits for it. */
  readonly eachBatch: (batch: PartitionBatch) => Promise<void>;
}

export interface KafkaConsumer {
  connect(): Promise<void>;
  subscribe(topic: string): Promise<void>;
  /** Starts fetching; resolves once running. Offsets are committed only by `commit`. */
  run(options: ConsumerRunOptions): Promise<void>;
  /** Commits offsets for this consumer's group now. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  resume(topic: string, partition: number): void;
  /** The partitions this member owns after each rebalance. */
  onAssignment(listener: (assigned: readonly { topic: string; partition: number }[]) => void): void;
  /** The consumer stopped on its own and will not restart. */
  onCrash(listener: (error: Error) => void): void;
  /** Waits for the batch in hand, leaves the group and closes the connections. */
  disconnect(): Promise<void>;
}

export interface KafkaProducer {
  connect(): Promise<void>;
  /** Resolves once every record is acknowledged by all in-sync replicas. */
  send(records: readonly OutputRecord[]): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * Transactions of one consumer's outputs and offsets. Zombies (a member that lost its partitions
 * but does not know it yet: frozen, partitioned, replaced after a crash) must not commit: the
 * adapter fences them the way its client can, by the consumer group's generation and member id
 * sent with the offsets (KIP-447), or by one transactional id per input partition (kafkajs).
 */
export interface KafkaTransactionalProducer {
  connect(): Promise<void>;
  /**
   * Produces `records` and commits `offsets` (of the consumer this producer was made for, in its
   * group) in one transaction: a read-committed reader sees all of it or none, and the offsets move
   * only if the records are visible. Rejects, committing nothing, when the consumer no longer owns
   * the partitions or a newer member has fenced this one.
   */
  sendWithOffsets(
    records: readonly OutputRecord[],
    offsets: readonly TopicPartitionOffset[],
  ): Promise<void>;
  /** The partitions the consumer owns after a rebalance: resources held for others can go. */
  assigned(partitions: readonly { topic: string; partition: number }[]): void;
  disconnect(): Promise<void>;
}

export interface ConsumerSettings {
  readonly groupId: string;
  /**
   * Static group membership (KIP-345): a member that restarts with the same id takes its
   * partitions back at once, without a rebalance, instead of waiting out the dead member's
   * session. Unique per process in the group. None: a new dynamic member at each start.
   */
  readonly groupInstanceId: string | undefined;
  /** Longest wait of a fetch for new data when there is none. */
  readonly maxWaitTimeMs: number;
  /** A member silent this long loses its partitions (a static member: its place in the group). */
  readonly sessionTimeoutMs: number;
}

export interface ProducerOptions {
  /**
   * Send from a worker thread of the producer's own, so that encoding, compressing and writing
   * the records runs beside the caller's thread instead of on it: for the pipeline's outputs. A
   * client that has no such producer throws.
   * @default false
   */
  readonly ownThread?: boolean;
}

/** Makes the Kafka clients of one pipeline. */
export interface KafkaClient {
  consumer(settings: ConsumerSettings): KafkaConsumer;
  /** Idempotent, acks from all in-sync replicas, one request in flight. */
  producer(options?: ProducerOptions): KafkaProducer;
  /**
   * Idempotent and transactional, committing offsets for `consumer` (made by this client): one
   * per pipeline member, whatever the number of partitions it owns.
   */
  transactionalProducer(consumer: KafkaConsumer): KafkaTransactionalProducer;
  /**
   * Creates those of `topics` that do not exist, with the cluster's default partitions and
   * replication; changes none that exist. Resolves with the names it created.
   */
  ensureTopics(topics: readonly string[]): Promise<string[]>;
}
