/**
 * The few admin operations the tests, the verifier and the demo need (topics, their ends, a
 * group's state and committed offsets), on @platformatic/kafka's Admin, with plain numbers and
 * strings out. One connection per instance; `close()` it.
 */
import {
  Admin,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type FetchIsolationLevelValue,
} from "@platformatic/kafka";
import { platformaticSecurity, type KafkaSecurity } from "@sluice/consumer";

/** One partition's offsets: `low` its first, `high` the one after its last (high watermark). */
export interface PartitionEnds {
  readonly partition: number;
  readonly low: number;
  readonly high: number;
}

/** How long `createTopics` waits for every new partition to have a leader. */
const LEADERS_TIMEOUT_MS = 30_000;

export class KafkaAdmin {
  readonly #admin: Admin;

  /** `security`: TLS and SASL, as a pipeline file's `kafka:` gives them. @default plaintext */
  constructor(brokers: readonly string[], clientId = "sluice-admin", security?: KafkaSecurity) {
    this.#admin = new Admin({
      clientId,
      bootstrapBrokers: [...brokers],
      ...platformaticSecurity(security, brokers),
    });
  }

  listTopics(): Promise<string[]> {
    return this.#admin.listTopics();
  }

  /** Creates `topics` with `partitions` each and one replica; resolves once each has a leader. */
  async createTopics(topics: readonly string[], partitions: number): Promise<void> {
    await this.#admin.createTopics({ topics: [...topics], partitions, replicas: 1 });
    const deadline = Date.now() + LEADERS_TIMEOUT_MS;
    for (;;) {
      const metadata = await this.#admin.metadata({ topics: [...topics], forceUpdate: true });
      const ready = topics.every((topic) => {
        const found = metadata.topics.get(topic);
        return (
          found !== undefined && found.partitions.every((p) => p !== undefined && p.leader >= 0)
        );
      });
      if (ready) return;
      if (Date.now() > deadline) {
        throw new Error(
          `topics ${topics.join(", ")} have no leader after ${LEADERS_TIMEOUT_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    if (topics.length > 0) await this.#admin.deleteTopics({ topics: [...topics] });
  }

  async deleteGroups(groups: readonly string[]): Promise<void> {
    if (groups.length > 0) await this.#admin.deleteGroups({ groups: [...groups] });
  }

  /**
   * Each partition's first offset and end: the high watermark, or with `committedOnly` the last
   * stable offset (what a read_committed reader can reach while a transaction is open).
   */
  async topicEnds(topic: string, committedOnly = false): Promise<PartitionEnds[]> {
    const metadata = await this.#admin.metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const partitions = Array.from({ length: count }, (_, partition) => partition);
    const isolation: FetchIsolationLevelValue = committedOnly
      ? FetchIsolationLevels.READ_COMMITTED
      : FetchIsolationLevels.READ_UNCOMMITTED;
    const list = async (timestamp: bigint) => {
      const [listed] = await this.#admin.listOffsets({
        isolationLevel: isolation,
        topics: [
          { name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp })) },
        ],
      });
      return new Map(listed?.partitions.map((p) => [p.partitionIndex, Number(p.offset)]));
    };
    const [low, high] = await Promise.all([
      list(ListOffsetTimestamps.EARLIEST),
      list(ListOffsetTimestamps.LATEST),
    ]);
    return partitions.map((partition) => ({
      partition,
      low: low.get(partition) ?? 0,
      high: high.get(partition) ?? 0,
    }));
  }

  /** Records written to `topic` so far (the sum of its high watermarks; transaction markers too). */
  async written(topic: string): Promise<number> {
    return (await this.topicEnds(topic)).reduce((sum, { high }) => sum + high, 0);
  }

  /** The bytes of `topic`'s logs on the brokers' disks (every partition and log directory). */
  async logBytes(topic: string): Promise<number> {
    const partitions = (await this.topicEnds(topic)).map(({ partition }) => partition);
    const brokers = await this.#admin.describeLogDirs({ topics: [{ name: topic, partitions }] });
    let bytes = 0;
    for (const { results } of brokers) {
      for (const { topics } of results) {
        for (const t of topics) {
          if (t.name !== topic) continue;
          for (const { partitionSize } of t.partitions) bytes += Number(partitionSize);
        }
      }
    }
    return bytes;
  }

  /** `groupId`'s committed offset per partition of `topic`; -1 where it committed none. */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
    const [group] = await this.#admin.listConsumerGroupOffsets({
      groups: [{ groupId, topics: null }],
      requireStable: true,
    });
    const found = group?.topics.find((t) => t.name === topic);
    return new Map(found?.partitions.map((p) => [p.partitionIndex, Number(p.committedOffset)]));
  }

  /** "Empty", "Stable", "PreparingRebalance", … or "Dead" for a group that does not exist. */
  async groupState(groupId: string): Promise<string> {
    const groups = await this.#admin.describeGroups({ groups: [groupId] });
    return groups.get(groupId)?.state ?? "Dead";
  }

  /** Moves `groupId`'s committed offsets on `topic` back to the beginning (the group must be empty). */
  async rewind(groupId: string, topic: string): Promise<void> {
    const ends = await this.topicEnds(topic);
    await this.#admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: ends.map(({ partition, low }) => ({ partition, offset: BigInt(low) })),
        },
      ],
    });
  }

  close(): Promise<void> {
    return this.#admin.close();
  }
}
