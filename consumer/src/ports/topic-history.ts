/**
 * The backtest's view of Kafka: a topic's history read by partition and offset range, with no
 * consumer group at all (manual assignment), so nothing is joined and nothing is committed: the
 * live pipeline's group, its offsets and its lag stay as they are. `adapters/` implements it
 * (`PlatformaticTopicHistory`); the pipeline's own `KafkaConsumer` stays a group member.
 */
import type { InputRecord } from "./kafka.js";

/** One partition's offsets: where its log starts and where it ends (the next offset to be written). */
export interface PartitionExtent {
  readonly partition: number;
  /** The first offset still in the log. */
  readonly start: bigint;
  /** The offset after the last committed record (read_committed: the last stable offset). */
  readonly end: bigint;
}

/** Records [from, to) of one partition. */
export interface PartitionRange {
  readonly partition: number;
  readonly from: bigint;
  readonly to: bigint;
}

/** Some records of one partition, in offset order; the next call for it waits for this one. */
export interface HistoryBatch {
  readonly partition: number;
  readonly records: readonly InputRecord[];
  /** The offset after these records: where the partition's reading goes on. */
  readonly next: bigint;
}

export interface TopicHistory {
  /** Every partition of `topic` with its extent now. Rejects when the topic does not exist. */
  extents(topic: string): Promise<PartitionExtent[]>;
  /**
   * Per partition, the first offset whose record timestamp is at or after `timeMs`, or the end of
   * the partition when no record is that late (Kafka's ListOffsets by timestamp).
   */
  offsetsForTime(topic: string, timeMs: number): Promise<Map<number, bigint>>;
  /**
   * Reads every range of `topic` to its end, `onBatch` awaited for each batch before its
   * partition is fetched again, so memory holds at most one fetch per partition; batches of
   * different partitions may be handed over at once. Transaction
   * markers and aborted records are skipped (read_committed). Resolves when every range is read;
   * stops early, resolving, when `signal` aborts.
   */
  read(
    topic: string,
    ranges: readonly PartitionRange[],
    onBatch: (batch: HistoryBatch) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void>;
  close(): Promise<void>;
}
