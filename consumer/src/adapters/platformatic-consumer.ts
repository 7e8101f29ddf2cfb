/**
 * The `KafkaConsumer` port on @platformatic/kafka: its group membership (join, heartbeats on its
 * own timer, static membership, cooperative-sticky assignment) with a fetch loop of our own on its
 * `fetch()`. Its message stream hands over one message at a time for every assigned partition and
 * cannot pause one of them; fetching ourselves gives the pipeline what it needs:
 *
 * - **Micro-batches per partition.** A fetch response's records of one partition become one
 *   `PartitionBatch` (no object per message beyond the record itself, no promise or timer per
 *   message). Up to `concurrency` partitions are handled at once, one batch at a time per
 *   partition, in offset order.
 * - **Pause per partition.** A paused partition is left out of fetches and batches; its records
 *   stay in hand and are handed over again on resume. The others go on.
 * - **Bounded memory.** A partition is fetched again only once what was fetched for it has been
 *   handed over: at most one fetch response (1 MiB) waits per partition.
 * - **Micro-batches that grow with the load.** A partition that has caught up is fetched again only
 *   once its batch in hand is done, so the next batch holds everything that arrived meanwhile (few
 *   large batches, not many small ones); a partition with a backlog is fetched ahead while its
 *   batch runs, so the next one is ready when it ends.
 *
 * Rebalances. Before every (re)join, in the hook @platformatic/kafka calls for the join's protocol
 * metadata, no new batch starts and the batches in hand finish (their transactions end, their
 * outputs are acknowledged), so a partition's new owner never reads its committed offset while its
 * old owner still has a transaction open on it. After every join each assigned partition starts
 * again from the group's committed offset; batches of an earlier assignment are stale.
 */
import {
  ConnectionPool,
  type Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  consumerHeartbeatChannel,
  findErrorBy,
  type ConsumerGroupJoinPayload,
} from "@platformatic/kafka";
import { backoffDelay, errorMessage, sleep, type Logger } from "@sluice/kit";
import type {
  ConsumerRunOptions,
  ConsumerSettings,
  InputRecord,
  KafkaConsumer,
  PartitionBatch,
  TopicPartitionOffset,
} from "../ports/kafka.js";
import type { PlatformaticSecurityOptions } from "./kafka-security.js";
import {
  appendRecords,
  FETCH_MAX_BYTES,
  OFFSET_OUT_OF_RANGE,
  PARTITION_MAX_BYTES,
} from "./platformatic-records.js";
import { ReadCommittedConsumer } from "./read-committed-consumer.js";

type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>;

/**
 * The longest wait for the batches in hand before a rejoin. A micro-batch takes milliseconds, at
 * worst the model's deadline (2 s) plus a produce; past this the rejoin goes ahead, and a
 * transaction still running is refused by the coordinator (its generation is gone).
 */
const DRAIN_BEFORE_REJOIN_MS = 10_000;
/**
 * How long the coordinator waits for every member to rejoin during a rebalance, at least: the
 * drain above must fit in it. @platformatic/kafka requires it ≥ the session timeout.
 */
const MIN_REBALANCE_TIMEOUT_MS = 30_000;
/** Waits between failed fetches, offset lookups or joins: a broker restart takes seconds. */
const RETRY = { initialBackoffMs: 250, maxBackoffMs: 5_000 } as const;

/** Three heartbeats per session, as Kafka advises; never more than 3 s apart. */
export function heartbeatIntervalMs(sessionTimeoutMs: number): number {
  return Math.min(3_000, Math.floor(sessionTimeoutMs / 3));
}

interface GroupMetadata {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly coordinatorId: number;
}

/** One assigned partition, for one assignment: a rebalance replaces it with a new one. */
class AssignedPartition {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to fetch; undefined until the group's committed offset is known. */
  position: bigint | undefined;
  /** Fetched, not handed over yet, in offset order. */
  pending: InputRecord[] = [];
  highWatermark = "0";
  /** Its last fetch stopped short of the high watermark: a backlog, worth fetching ahead. */
  behind = false;
  /** The leader epoch of the last fetched batch, sent with commits (KIP-320). */
  leaderEpoch = -1;
  /** A batch of it is being handled. */
  busy = false;
  /** Its batch is committing (at-least-once): a rejoin need not wait for it. */
  committing = false;
  paused = false;
  /** In a fetch in flight. */
  fetching = false;
  /** Its committed offset is being read. */
  locating = false;
  /** A rebalance replaced this assignment: its records are outdated. */
  revoked = false;

  constructor(topic: string, partition: number) {
    this.topic = topic;
    this.partition = partition;
  }
}

export interface PlatformaticConsumerOptions {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly log: Logger;
  /** TLS and SASL, for the group's connections and the fetch loop's alike. */
  readonly security?: PlatformaticSecurityOptions;
}

export class PlatformaticConsumer implements KafkaConsumer {
  readonly groupId: string;
  readonly groupInstanceId: string | undefined;
  /** The library's consumer: group membership, offsets, fetch requests. */
  readonly client: Consumer;
  readonly #settings: ConsumerSettings;
  readonly #log: Logger;
  /** Fetches go over connections of their own, so a long poll never delays a heartbeat or commit. */
  readonly #fetchPool: ConnectionPool;
  #topic: string | undefined;
  #concurrency = 1;
  #eachBatch: ((batch: PartitionBatch) => Promise<void>) | undefined;
  /** The current assignment, by partition number. */
  #partitions = new Map<number, AssignedPartition>();
  /** Batches running now. */
  #running = 0;
  /** The partition the next dispatch looks at first, so every partition gets its turn. */
  #turn = 0;
  /** Nodes with a fetch loop running. */
  readonly #fetchers = new Set<number>();
  #pumpScheduled = false;
  /** Between the hook before a join and the join itself: no new batch starts. */
  #rejoining = false;
  #stopping = false;
  #joinRetries = 0;
  /** A metadata refresh is due for partitions without a leader. */
  #leaderRetry = false;
  /** Called whenever a batch settles or starts committing: the drain before a rejoin waits here. */
  #onSettled: (() => void)[] = [];
  readonly #assignmentListeners: ((assigned: { topic: string; partition: number }[]) => void)[] =
    [];
  readonly #crashListeners: ((error: Error) => void)[] = [];

  constructor(settings: ConsumerSettings, options: PlatformaticConsumerOptions) {
    this.#settings = settings;
    this.#log = options.log;
    this.groupId = settings.groupId;
    this.groupInstanceId = settings.groupInstanceId;
    this.client = new ReadCommittedConsumer({
      clientId: options.clientId,
      bootstrapBrokers: [...options.brokers],
      ...options.security,
      groupId: settings.groupId,
      ...(settings.groupInstanceId === undefined
        ? {}
        : { groupInstanceId: settings.groupInstanceId }),
      sessionTimeout: settings.sessionTimeoutMs,
      rebalanceTimeout: Math.max(settings.sessionTimeoutMs, MIN_REBALANCE_TIMEOUT_MS),
      heartbeatInterval: heartbeatIntervalMs(settings.sessionTimeoutMs),
      // Cooperative-sticky: a rebalance moves only the partitions that must move. Version 3 carries
      // the generation in the subscription itself, so the hook below may supply the user data.
      protocols: [{ name: "cooperative-sticky", version: 3 }],
      protocolsMetadata: () => this.#beforeJoin(),
      autocommit: false,
      maxWaitTime: settings.maxWaitTimeMs,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    this.#fetchPool = new ConnectionPool(options.clientId, { ...options.security });
    this.client.on("consumer:group:join", (payload) => this.#joined(payload));
    this.client.on("consumer:heartbeat:error", ({ error }) =>
      this.#log.warn({ error: errorMessage(error) }, "heartbeat to the group coordinator failed"),
    );
    // A heartbeat refused because another process took this instance id makes the library rejoin,
    // which fences that process out in turn: they would take turns forever. Only its diagnostics
    // channel tells; this member stops instead, with the reason.
    consumerHeartbeatChannel.error.subscribe(this.#onHeartbeatError);
    // The library emits "error" when a rejoin it started failed: without a listener that would
    // throw. Membership is lost then; join again until the group answers.
    this.client.on("error", (error: Error) => this.#rejoinLater(error));
  }

  /** Connections open on first use. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  subscribe(topic: string): Promise<void> {
    this.#topic = topic;
    this.client.topics.track(topic);
    return Promise.resolve();
  }

  async run({ concurrency, eachBatch }: ConsumerRunOptions): Promise<void> {
    if (this.#topic === undefined) throw new Error("PlatformaticConsumer.run: subscribe first");
    this.#concurrency = Math.max(1, concurrency);
    this.#eachBatch = eachBatch;
    // Resolves once assigned: the "consumer:group:join" event has run #joined.
    await this.client.joinGroup({});
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const owned = offsets.map(({ topic, partition }) => {
      const state = this.#partitions.get(partition);
      // Committing for a partition a rebalance gave away could move its new owner's offset back.
      if (state === undefined || state.topic !== topic) throw notAssigned(topic, partition);
      return state;
    });
    for (const state of owned) state.committing = true;
    this.#settled();
    try {
      await this.client.commit({
        offsets: offsets.map((o, i) => ({
          topic: o.topic,
          partition: o.partition,
          offset: BigInt(o.offset),
          leaderEpoch: owned[i]!.leaderEpoch,
        })),
      });
    } finally {
      for (const state of owned) state.committing = false;
    }
  }

  resume(topic: string, partition: number): void {
    const state = this.#partitions.get(partition);
    if (state === undefined || state.topic !== topic || !state.paused) return;
    state.paused = false;
    this.#schedule();
  }

  onAssignment(
    listener: (assigned: readonly { topic: string; partition: number }[]) => void,
  ): void {
    this.#assignmentListeners.push(listener);
  }

  onCrash(listener: (error: Error) => void): void {
    this.#crashListeners.push(listener);
  }

  async disconnect(): Promise<void> {
    this.#stopping = true;
    consumerHeartbeatChannel.error.unsubscribe(this.#onHeartbeatError);
    // The batches in hand finish (isRunning() is false for them: no further micro-batch).
    await this.#drained(Number.POSITIVE_INFINITY, true);
    try {
      // Leaves the group (a static member too: SIGTERM hands its partitions over at once).
      await this.client.close();
    } finally {
      await this.#fetchPool.close().catch(() => {});
    }
  }

  /**
   * Who commits offsets for `partition` now, for a transaction's TxnOffsetCommit (KIP-447): the
   * coordinator refuses it if this member has been replaced or its generation has moved on.
   * Throws when the partition is no longer this member's.
   */
  groupMetadata(topic: string, partition: number): GroupMetadata {
    const state = this.#partitions.get(partition);
    const { memberId, generationId, coordinatorId } = this.client;
    if (state === undefined || state.topic !== topic) throw notAssigned(topic, partition);
    if (memberId === null || coordinatorId === null) {
      throw new Error(`not a member of group "${this.groupId}" right now`);
    }
    return { groupId: this.groupId, generationId, memberId, coordinatorId };
  }

  /** The library's hook before each JoinGroup: stop starting batches, let those in hand finish. */
  async #beforeJoin(): Promise<Buffer> {
    // Stopping (or fenced out): joining again would take the group instance id back from whoever
    // holds it now. The failed join ends the library's attempt.
    if (this.#stopping) throw new Error(`not joining group "${this.groupId}": stopping`);
    this.#rejoining = true;
    const started = Date.now();
    const drained = await this.#drained(DRAIN_BEFORE_REJOIN_MS);
    if (!drained) {
      this.#log.warn(
        { waitedMs: Date.now() - started },
        "rejoining the group with micro-batches still running; their commits will be refused",
      );
    }
    return Buffer.alloc(0);
  }

  /** A (re)join completed: every assigned partition starts again from the committed offset. */
  #joined({ generationId, assignments }: ConsumerGroupJoinPayload): void {
    this.#rejoining = false;
    this.#joinRetries = 0;
    const topic = this.#topic;
    const numbers =
      assignments?.filter((a) => a.topic === topic).flatMap((a) => a.partitions) ?? [];
    for (const state of this.#partitions.values()) state.revoked = true;
    this.#partitions = new Map(
      numbers.map((partition) => [partition, new AssignedPartition(topic!, partition)]),
    );
    const assigned = numbers.map((partition) => ({ topic: topic!, partition }));
    this.#log.debug({ generationId, partitions: numbers }, "joined the group");
    for (const listener of this.#assignmentListeners) listener(assigned);
    this.#schedule();
  }

  readonly #onHeartbeatError = (message: unknown): void => {
    const { client, error } = message as { client?: unknown; error?: unknown };
    if (client !== this.client || !isFenced(error)) return;
    this.#fenced(error);
  };

  #fenced(error: unknown): void {
    this.#crash(
      new Error(
        `another member joined group "${this.groupId}" with group instance id "${this.groupInstanceId}": each process needs its own (--instance-id, SLUICE_INSTANCE_ID or kafka.group_instance_id)`,
        { cause: error },
      ),
    );
  }

  #rejoinLater(error: Error): void {
    if (this.#stopping) return;
    if (isFenced(error)) {
      this.#fenced(error);
      return;
    }
    const delayMs = backoffDelay(++this.#joinRetries, RETRY);
    this.#log.warn(
      { error: errorMessage(error), delayMs },
      `lost group membership; joining again in ${delayMs} ms`,
    );
    setTimeout(() => {
      if (this.#stopping || this.client.isActive()) return;
      this.client.joinGroup({}).catch((failure: unknown) => {
        this.#rejoinLater(failure instanceof Error ? failure : new Error(String(failure)));
      });
    }, delayMs).unref();
  }

  #crash(error: Error): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const listener of this.#crashListeners) listener(error);
  }

  /** Runs `#pump` once, soon: many wake-ups in one tick cost one pass. */
  #schedule(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Starts what can start: batches, offset lookups, fetch loops. */
  #pump(): void {
    if (this.#stopping || this.#rejoining) return;
    this.#dispatch();
    const unlocated = [...this.#partitions.values()].filter(
      (s) => s.position === undefined && !s.locating,
    );
    if (unlocated.length > 0) void this.#locate(unlocated);
    if (this.#fetchable().length > 0) void this.#startFetchers();
  }

  #dispatch(): void {
    const states = [...this.#partitions.values()];
    for (let i = 0; i < states.length && this.#running < this.#concurrency; i++) {
      const state = states[(this.#turn + i) % states.length]!;
      if (state.busy || state.paused || state.pending.length === 0) continue;
      this.#turn = (this.#turn + i + 1) % states.length;
      this.#handOver(state);
    }
  }

  /** Runs the pipeline's eachBatch on what `state` has fetched. */
  #handOver(state: AssignedPartition): void {
    const records = state.pending;
    state.pending = [];
    state.busy = true;
    this.#running++;
    let resolved = 0;
    const batch: PartitionBatch = {
      topic: state.topic,
      partition: state.partition,
      records,
      highWatermark: state.highWatermark,
      resolveOffset: (offset) => {
        const upTo = Number(offset);
        while (resolved < records.length && Number(records[resolved]!.offset) <= upTo) resolved++;
      },
      isRunning: () => !this.#stopping && !this.#rejoining && !state.revoked,
      isStale: () => state.revoked,
      pause: () => {
        state.paused = true;
        return () => this.resume(state.topic, state.partition);
      },
    };
    this.#eachBatch!(batch).then(
      () => this.#handedBack(state, records, resolved),
      (error: unknown) => {
        this.#handedBack(state, records, resolved);
        this.#crash(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  #handedBack(state: AssignedPartition, records: InputRecord[], resolved: number): void {
    state.busy = false;
    this.#running--;
    if (!state.revoked && resolved < records.length) {
      // Unresolved records (a linger, a failure, a stop) come first in the next batch.
      const rest = resolved === 0 ? records : records.slice(resolved);
      state.pending = state.pending.length === 0 ? rest : rest.concat(state.pending);
    }
    this.#settled();
    if (resolved === 0 && !state.paused && state.pending.length > 0) {
      // Handed back untouched and not paused (a linger): again on the next turn of the event loop,
      // never synchronously in a loop.
      setImmediate(() => this.#schedule());
    } else {
      this.#schedule();
    }
  }

  #settled(): void {
    const waiters = this.#onSettled;
    this.#onSettled = [];
    for (const waiter of waiters) waiter();
  }

  /**
   * Resolves true once no batch runs, false after `timeoutMs`. Unless `commits`, a batch that is
   * committing counts as done: the library may need the rejoin before that commit can succeed.
   */
  #drained(timeoutMs: number, commits = false): Promise<boolean> {
    const idle = () =>
      this.#running === 0 ||
      (!commits && [...this.#partitions.values()].every((s) => !s.busy || s.committing));
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => resolve(false), timeoutMs)
        : undefined;
      const check = () => {
        if (idle()) {
          clearTimeout(timer);
          resolve(true);
        } else {
          this.#onSettled.push(check);
        }
      };
      check();
    });
  }

  /** Where newly assigned partitions start: the group's committed offset, else the earliest. */
  async #locate(states: AssignedPartition[]): Promise<void> {
    const topic = this.#topic!;
    for (const state of states) state.locating = true;
    const numbers = states.map((s) => s.partition);
    try {
      const committed = (
        await this.client.listCommittedOffsets({ topics: [{ topic, partitions: numbers }] })
      ).get(topic);
      const missing = numbers.filter((p) => (committed?.[p] ?? -1n) < 0n);
      const earliest =
        missing.length === 0
          ? undefined
          : (
              await this.client.listOffsets({
                topics: [topic],
                partitions: { [topic]: missing },
                timestamp: ListOffsetTimestamps.EARLIEST,
              })
            ).get(topic);
      for (const state of states) {
        const offset = committed?.[state.partition] ?? -1n;
        state.position = offset >= 0n ? offset : earliest?.[state.partition];
        if (state.position === undefined)
          throw new Error(`no offset for ${topic}[${state.partition}]`);
      }
    } catch (error) {
      if (this.#stopping) return;
      const delayMs = backoffDelay(1, RETRY);
      this.#log.warn(
        { error: errorMessage(error), partitions: numbers },
        `cannot read the committed offsets of ${topic}; trying again in ${delayMs} ms`,
      );
      await sleep(delayMs);
      for (const state of states) if (state.position === undefined) state.locating = false;
    } finally {
      for (const state of states) if (state.position !== undefined) state.locating = false;
      this.#schedule();
    }
  }

  /** Partitions a fetch may include now. */
  #fetchable(): AssignedPartition[] {
    return [...this.#partitions.values()].filter(
      (s) =>
        s.position !== undefined &&
        !s.paused &&
        !s.fetching &&
        s.pending.length === 0 &&
        (!s.busy || s.behind),
    );
  }

  /** A fetch loop for every leader that has fetchable partitions and none yet. */
  async #startFetchers(): Promise<void> {
    const topic = this.#topic!;
    let leaders: Map<number, number>;
    try {
      const metadata = await this.client.metadata({ topics: [topic] });
      const partitions = metadata.topics.get(topic)?.partitions ?? [];
      leaders = new Map(partitions.map((p, i) => [i, p.leader]));
    } catch (error) {
      this.#log.warn({ error: errorMessage(error) }, `cannot read the metadata of ${topic}`);
      await sleep(backoffDelay(1, RETRY));
      this.#schedule();
      return;
    }
    const nodes = new Set(this.#fetchable().map((s) => leaders.get(s.partition) ?? -1));
    if (nodes.has(-1) && !this.#leaderRetry) {
      // A partition without a leader (a new topic, a broker failing over): look again shortly.
      this.#leaderRetry = true;
      setTimeout(() => {
        this.#leaderRetry = false;
        void this.client
          .metadata({ topics: [topic], forceUpdate: true })
          .catch(() => {})
          .finally(() => this.#schedule());
      }, RETRY.initialBackoffMs).unref();
    }
    for (const node of nodes) {
      if (node < 0 || this.#fetchers.has(node)) continue;
      this.#fetchers.add(node);
      void this.#fetchFrom(node).finally(() => {
        this.#fetchers.delete(node);
        this.#schedule();
      });
    }
  }

  /** Fetches from `node` the fetchable partitions it leads, until there are none. */
  async #fetchFrom(node: number): Promise<void> {
    const topic = this.#topic!;
    let failures = 0;
    while (!this.#stopping && !this.#rejoining) {
      const metadata = await this.client.metadata({ topics: [topic] }).catch(() => undefined);
      const topicMetadata = metadata?.topics.get(topic);
      if (topicMetadata === undefined) return;
      const states = this.#fetchable().filter(
        (s) => topicMetadata.partitions[s.partition]?.leader === node,
      );
      if (states.length === 0) return;
      const requested = new Map(states.map((s) => [s.partition, { state: s, from: s.position! }]));
      for (const state of states) state.fetching = true;
      let response: FetchResponse | undefined;
      let failure: unknown;
      try {
        response = await this.client.fetch({
          node,
          topics: [
            {
              topicId: topicMetadata.id,
              partitions: states.map((s) => ({
                partition: s.partition,
                fetchOffset: s.position!,
                partitionMaxBytes: PARTITION_MAX_BYTES,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
          connectionPool: this.#fetchPool,
          maxWaitTime: this.#settings.maxWaitTimeMs,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        });
      } catch (error) {
        failure = error;
        // Partitions without an error in a failed fetch still brought good records.
        response = (error as { response?: FetchResponse }).response;
      } finally {
        for (const state of states) state.fetching = false;
      }
      if (response !== undefined) this.#received(response, requested);
      if (failure !== undefined) {
        if (this.#stopping) return;
        const delayMs = backoffDelay(++failures, RETRY);
        this.#log.warn(
          { error: errorMessage(failure), node, delayMs },
          `fetching ${topic} failed; trying again in ${delayMs} ms`,
        );
        await sleep(delayMs);
      } else {
        failures = 0;
      }
      // Hand over what came, and start fetch loops for partitions whose leader moved elsewhere.
      this.#schedule();
    }
  }

  /** Takes the records of `response` for the partitions requested, if they are still current. */
  #received(
    response: FetchResponse,
    requested: Map<number, { state: AssignedPartition; from: bigint }>,
  ): void {
    for (const topicResponse of response.responses) {
      for (const partition of topicResponse.partitions) {
        const asked = requested.get(partition.partitionIndex);
        // Not asked for in this fetch (an incremental fetch session may still serve it), or
        // reassigned or moved meanwhile: its records are not ours to take.
        if (asked === undefined) continue;
        const { state, from } = asked;
        if (state.revoked || state.position !== from) continue;
        if (partition.errorCode !== 0) {
          if (partition.errorCode === OFFSET_OUT_OF_RANGE) {
            // The committed offset fell out of retention: start at the earliest, as a new group does.
            state.position = partition.logStartOffset >= 0n ? partition.logStartOffset : undefined;
            this.#log.warn(
              { partition: state.partition, from: String(from), restart: String(state.position) },
              `${state.topic}[${state.partition}]: offset ${from} is out of range; starting at the earliest`,
            );
          }
          continue;
        }
        state.highWatermark = String(partition.highWatermark);
        const batches = partition.records;
        if (batches === null || batches === undefined || batches.length === 0) {
          state.behind = false;
          continue;
        }
        const last = batches[batches.length - 1]!;
        state.leaderEpoch = last.partitionLeaderEpoch;
        state.position = appendRecords(batches, from, state.pending);
        state.behind = state.position < partition.highWatermark;
      }
    }
  }
}

function notAssigned(topic: string, partition: number): Error {
  return new Error(`${topic}[${partition}] is not assigned to this member any more`);
}

function isFenced(error: unknown): boolean {
  return error instanceof Error && findErrorBy(error, "apiId", "FENCED_INSTANCE_ID") !== null;
}
