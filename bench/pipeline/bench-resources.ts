/**
 * Everything the pipeline benchmark makes on the shared Kafka and Redis, named after one run prefix
 * (`bench-pipeline-<random>`) and removed by `release()`: topics, consumer groups, and the Redis
 * keys of the users' home countries and of the feature store. Never the servers themselves: other
 * people use them at the same time.
 */
import { Kafka, logLevel, type Admin } from "kafkajs";
import { Redis } from "ioredis";

export interface TopicSet {
  readonly input: string;
  /** Created with LogAppendTime: its records carry the broker's append time. */
  readonly output: string;
  readonly deadLetter: string;
  readonly review: string;
}

/** Keys deleted per SCAN step. */
const SCAN_COUNT = 1_000;

export class BenchResources {
  readonly prefix: string;
  /** The feature store's key prefix for every variant of this run. */
  readonly keyPrefix: string;
  readonly #admin: Admin;
  readonly #redisUrl: string;
  readonly #topics: string[] = [];
  readonly #groups = new Set<string>();

  constructor(brokers: readonly string[], redisUrl: string, prefix: string) {
    this.prefix = prefix;
    this.keyPrefix = `${prefix}:features:`;
    this.#redisUrl = redisUrl;
    this.#admin = new Kafka({
      clientId: prefix,
      brokers: [...brokers],
      logLevel: logLevel.WARN,
    }).admin();
  }

  connect(): Promise<void> {
    return this.#admin.connect();
  }

  /** Creates `<prefix>-<name>-{in,out,dlq,review}` with `partitions` partitions each. */
  async topicSet(name: string, partitions: number): Promise<TopicSet> {
    const base = `${this.prefix}-${name}`;
    const set: TopicSet = {
      input: `${base}-in`,
      output: `${base}-out`,
      deadLetter: `${base}-dlq`,
      review: `${base}-review`,
    };
    const topics = [set.input, set.output, set.deadLetter, set.review];
    this.#topics.push(...topics);
    await this.#admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: 1,
        configEntries:
          topic === set.output ? [{ name: "message.timestamp.type", value: "LogAppendTime" }] : [],
      })),
    });
    return set;
  }

  /** A consumer group name under the prefix, deleted by `release()`. */
  group(name: string): string {
    const group = `${this.prefix}-${name}`;
    this.#groups.add(group);
    return group;
  }

  /** Deletes what was made; every step is attempted, the first failure is rethrown. */
  async release(): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (what: () => Promise<unknown>) => {
      try {
        await what();
      } catch (error) {
        failures.push(error);
      }
    };
    // Groups whose members are all gone; one still in use fails alone and is reported.
    if (this.#groups.size > 0) await attempt(() => this.#admin.deleteGroups([...this.#groups]));
    if (this.#topics.length > 0)
      await attempt(() => this.#admin.deleteTopics({ topics: this.#topics, timeout: 10_000 }));
    await attempt(() => this.#deleteKeys([`user:u-${this.prefix}-*`, `${this.keyPrefix}*`]));
    await attempt(() => this.#admin.disconnect());
    if (failures.length > 0) throw failures[0];
  }

  async #deleteKeys(patterns: readonly string[]): Promise<void> {
    const redis = new Redis(this.#redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    try {
      await redis.connect();
      for (const pattern of patterns) {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys);
        } while (cursor !== "0");
      }
    } finally {
      redis.disconnect();
    }
  }
}
