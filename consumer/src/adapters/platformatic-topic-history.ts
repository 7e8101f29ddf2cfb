/**
 * The `TopicHistory` port on @platformatic/kafka: offsets from the Admin's ListOffsets (by
 * timestamp, earliest, latest), records from Fetch requests of our own on a consumer that never
 * joins its group. Manual assignment, no commits: a backtest leaves every group as it found it.
 */
import { randomUUID } from "node:crypto";
import {
  Admin,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type Consumer,
} from "@platformatic/kafka";
import { backoffDelay, sleep } from "@sluice/kit";
import type { KafkaSecurity } from "../config/kafka-security.js";
import type { InputRecord } from "../ports/kafka.js";
import type {
  HistoryBatch,
  PartitionExtent,
  PartitionRange,
  TopicHistory,
} from "../ports/topic-history.js";
import { platformaticSecurity, withSecurityReason } from "./kafka-security.js";
import {
  appendRecords,
  FETCH_MAX_BYTES,
  OFFSET_OUT_OF_RANGE,
  PARTITION_MAX_BYTES,
} from "./platformatic-records.js";
import { ReadCommittedConsumer } from "./read-committed-consumer.js";

type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>;

/** The data is there (below the end taken at the start): a fetch never waits long for it. */
const FETCH_MAX_WAIT_MS = 500;
/** Failed fetches in a row before the read gives up: a broker restart takes seconds. */
const MAX_FAILURES = 8;
/**
 * Fetches in a row that bring nothing for a partition still short of its range's end: its records
 * are gone (deleted, compacted away at the end) and waiting longer would wait forever.
 */
const MAX_EMPTY_FETCHES = 20;
const RETRY = { initialBackoffMs: 250, maxBackoffMs: 5_000 } as const;

export interface PlatformaticTopicHistoryOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** @default plaintext */
  readonly security?: KafkaSecurity;
}

export class PlatformaticTopicHistory implements TopicHistory {
  readonly #admin: Admin;
  readonly #consumer: ReadCommittedConsumer;
  /** The last fetch met a partition error: read the metadata afresh. */
  #stale = false;

  constructor(options: PlatformaticTopicHistoryOptions) {
    const security = platformaticSecurity(options.security, options.brokers);
    const common = {
      clientId: options.clientId,
      bootstrapBrokers: [...options.brokers],
      ...security,
    };
    this.#admin = new Admin(common);
    // A group id is required by the library's options; this consumer never joins it.
    this.#consumer = new ReadCommittedConsumer({
      ...common,
      groupId: `sluice-history-${randomUUID()}`,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
  }

  async extents(topic: string): Promise<PartitionExtent[]> {
    const partitions = await this.#partitions(topic);
    const [start, end] = await Promise.all([
      this.#list(topic, partitions, ListOffsetTimestamps.EARLIEST),
      this.#list(topic, partitions, ListOffsetTimestamps.LATEST),
    ]);
    return partitions.map((partition) => ({
      partition,
      start: start.get(partition) ?? 0n,
      end: end.get(partition) ?? 0n,
    }));
  }

  async offsetsForTime(topic: string, timeMs: number): Promise<Map<number, bigint>> {
    const partitions = await this.#partitions(topic);
    const [found, end] = await Promise.all([
      this.#list(topic, partitions, BigInt(Math.max(0, Math.trunc(timeMs)))),
      this.#list(topic, partitions, ListOffsetTimestamps.LATEST),
    ]);
    // -1: no record that late; reading from there reads nothing.
    return new Map(
      partitions.map((p) => {
        const offset = found.get(p) ?? -1n;
        return [p, offset >= 0n ? offset : (end.get(p) ?? 0n)];
      }),
    );
  }

  async read(
    topic: string,
    ranges: readonly PartitionRange[],
    onBatch: (batch: HistoryBatch) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void> {
    const positions = new Map(
      ranges.filter((r) => r.from < r.to).map((r) => [r.partition, { ...r, empty: 0 }]),
    );
    let failures = 0;
    // A function: the signal changes between awaits, which narrowing would not see.
    const aborted = () => signal?.aborted === true;
    while (positions.size > 0 && !aborted()) {
      const forceUpdate = this.#stale;
      this.#stale = false;
      const metadata = await this.#consumer
        .metadata({ topics: [topic], forceUpdate })
        .catch((error: unknown) => {
          throw withSecurityReason(error);
        });
      const topicMetadata = metadata.topics.get(topic);
      if (topicMetadata === undefined) throw new Error(`topic "${topic}" does not exist`);
      // One request per leader; the local stack and most tests have one.
      const byLeader = new Map<number, number[]>();
      for (const partition of positions.keys()) {
        const leader = topicMetadata.partitions[partition]?.leader ?? -1;
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
      }
      for (const [node, partitions] of byLeader) {
        if (aborted()) return;
        let response: FetchResponse | undefined;
        let failure: unknown;
        try {
          if (node < 0)
            throw new Error(`${topic}: partitions ${partitions.join(", ")} have no leader`);
          response = await this.#consumer.fetch({
            node,
            topics: [
              {
                topicId: topicMetadata.id,
                partitions: partitions.map((partition) => ({
                  partition,
                  fetchOffset: positions.get(partition)!.from,
                  partitionMaxBytes: PARTITION_MAX_BYTES,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                })),
              },
            ],
            maxWaitTime: FETCH_MAX_WAIT_MS,
            minBytes: 1,
            maxBytes: FETCH_MAX_BYTES,
            isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          });
        } catch (error) {
          failure = error;
          this.#stale = true;
          response = (error as { response?: FetchResponse }).response;
        }
        if (response !== undefined) await this.#received(topic, response, positions, onBatch);
        if (failure !== undefined) {
          if (++failures >= MAX_FAILURES) throw withSecurityReason(failure);
          await sleep(backoffDelay(failures, RETRY));
        } else {
          failures = 0;
        }
      }
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#consumer.close(true), this.#admin.close()]);
  }

  /**
   * Hands over what `response` brought for each partition, in offset order, up to its range's
   * end: the partitions at once (as the pipeline handles its partitions), each in order.
   */
  async #received(
    topic: string,
    response: FetchResponse,
    positions: Map<number, PartitionRange & { from: bigint; empty: number }>,
    onBatch: (batch: HistoryBatch) => Promise<void>,
  ): Promise<void> {
    const handed: HistoryBatch[] = [];
    for (const topicResponse of response.responses) {
      for (const partition of topicResponse.partitions) {
        const position = positions.get(partition.partitionIndex);
        if (position === undefined) continue;
        const where = `${topic}[${position.partition}]`;
        if (partition.errorCode === OFFSET_OUT_OF_RANGE) {
          throw new Error(
            `${where}: offset ${position.from} is no longer in the log (it starts at ${partition.logStartOffset}); choose a later --from`,
          );
        }
        if (partition.errorCode !== 0) {
          // A leader that moved: the next round reads the metadata afresh.
          this.#stale = true;
          if (++position.empty >= MAX_EMPTY_FETCHES) {
            throw new Error(
              `${where}: the broker answered Kafka error code ${partition.errorCode} ${MAX_EMPTY_FETCHES} times in a row`,
            );
          }
          continue;
        }
        const records: InputRecord[] = [];
        const batches = partition.records ?? [];
        let next =
          batches.length === 0 ? position.from : appendRecords(batches, position.from, records);
        const last = records.findIndex((record) => BigInt(record.offset) >= position.to);
        if (last >= 0) records.length = last;
        if (next > position.to) next = position.to;
        if (next === position.from) {
          if (++position.empty >= MAX_EMPTY_FETCHES) {
            throw new Error(
              `${where}: no records from offset ${position.from} although the partition ended at ${position.to} when the read began`,
            );
          }
          continue;
        }
        position.empty = 0;
        position.from = next;
        if (next >= position.to) positions.delete(position.partition);
        handed.push({ partition: position.partition, records, next });
      }
    }
    await Promise.all(handed.map(onBatch));
  }

  async #partitions(topic: string): Promise<number[]> {
    const metadata = await this.#admin.metadata({ topics: [topic] }).catch((error: unknown) => {
      throw withSecurityReason(error);
    });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    if (count === 0) throw new Error(`topic "${topic}" does not exist`);
    return Array.from({ length: count }, (_, partition) => partition);
  }

  async #list(topic: string, partitions: readonly number[], timestamp: bigint) {
    const [listed] = await this.#admin.listOffsets({
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      topics: [
        { name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp })) },
      ],
    });
    return new Map(listed?.partitions.map((p) => [p.partitionIndex, p.offset]));
  }
}
