/**
 * The passthrough on @confluentinc/kafka-javascript's native API (the node-rdkafka one, `RdKafka`),
 * to measure what its KafkaJS-compatible layer costs on top. The consumer's `consume(n)` returns
 * up to n records of any partitions, read from librdkafka's queue on a libuv thread;
 * `PartitionChunks` gives them kafkajs's `eachBatch` shape. A chunk is done when librdkafka's
 * delivery reports (polled on its background thread) have come for all of its records, and its
 * offset is then committed with `commitCb`, which calls back once the broker answered.
 */
import { importOptional } from "./optional-module.js";
import { PartitionChunks } from "./partition-chunks.js";
import {
  CHUNK,
  FETCH_MAX_WAIT_MS,
  PARTITIONS_IN_FLIGHT,
  failLoudly,
  heartbeatIntervalMs,
  type OnRecords,
  type PassthroughSettings,
  type StopPassthrough,
} from "./passthrough-settings.js";

type Callback<T = void> = (error: Error | null | undefined, value: T) => void;
type Headers = { [key: string]: Buffer | string }[];

/** The members of the package's native API used here. */
interface RdKafkaModule {
  readonly RdKafka: {
    readonly Producer: new (config: Record<string, unknown>) => NativeProducer;
    readonly KafkaConsumer: new (
      config: Record<string, unknown>,
      topicConfig: Record<string, unknown>,
    ) => NativeConsumer;
  };
}

interface NativeProducer {
  connect(options: Record<string, unknown>, callback: Callback<unknown>): void;
  setPollInBackground(on: boolean): void;
  on(
    event: "delivery-report",
    listener: (error: Error | null, report: { opaque: unknown }) => void,
  ): void;
  produce(
    topic: string,
    partition: null,
    value: Buffer | null,
    key: Buffer | null | undefined,
    timestamp: null,
    opaque: unknown,
    headers: Headers | undefined,
  ): void;
  flush(timeoutMs: number, callback: Callback): void;
  disconnect(callback: Callback<unknown>): void;
}

interface NativeConsumer {
  connect(options: Record<string, unknown>, callback: Callback<unknown>): void;
  subscribe(topics: string[]): void;
  setDefaultConsumeTimeout(timeoutMs: number): void;
  consume(count: number, callback: Callback<NativeMessage[]>): void;
  commitCb(
    offsets: { topic: string; partition: number; offset: number }[],
    callback: Callback,
  ): void;
  disconnect(callback: Callback<unknown>): void;
}

interface NativeMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key?: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Headers;
}

/** A chunk's records not yet acknowledged, and what to do when they all are. */
interface Pending {
  remaining: number;
  failed: Error | undefined;
  done: (error?: Error) => void;
}

/** librdkafka's flush on stop: records still queued are given this long. */
const FLUSH_TIMEOUT_MS = 10_000;

const promisify = <T>(call: (callback: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) =>
    call((error, value) => (error ? reject(error) : resolve(value))),
  );

export async function startConfluentNativePassthrough(
  settings: PassthroughSettings,
  onRecords: OnRecords,
): Promise<StopPassthrough> {
  const loaded = await importOptional<RdKafkaModule & { default?: RdKafkaModule }>(
    "@confluentinc/kafka-javascript",
  );
  const { RdKafka } = loaded.default ?? loaded;
  const common = {
    "client.id": settings.groupId,
    "metadata.broker.list": settings.brokers.join(","),
  };
  const producer = new RdKafka.Producer({
    ...common,
    "enable.idempotence": true,
    acks: -1,
    // Delivery reports carry the opaque given to produce(): the chunk the record belongs to.
    dr_cb: true,
  });
  const consumer = new RdKafka.KafkaConsumer(
    {
      ...common,
      "group.id": settings.groupId,
      "enable.auto.commit": false,
      "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
      "session.timeout.ms": settings.sessionTimeoutMs,
      "heartbeat.interval.ms": heartbeatIntervalMs(settings.sessionTimeoutMs),
      ...(settings.groupInstanceId === undefined
        ? {}
        : { "group.instance.id": settings.groupInstanceId }),
    },
    { "auto.offset.reset": "earliest" },
  );

  producer.on("delivery-report", (error, report) => {
    const pending = report.opaque as Pending;
    if (error) pending.failed ??= error;
    if (--pending.remaining === 0) pending.done(pending.failed);
  });

  const chunks = new PartitionChunks<NativeMessage>(async (partition, chunk) => {
    onRecords(chunk.length);
    await new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        remaining: chunk.length,
        failed: undefined,
        done: (error) => (error ? reject(error) : resolve()),
      };
      for (const m of chunk)
        producer.produce(settings.output, null, m.value, m.key, null, pending, m.headers);
    });
    const last = chunk[chunk.length - 1]!;
    await promisify<void>((callback) =>
      consumer.commitCb([{ topic: last.topic, partition, offset: last.offset + 1 }], callback),
    );
  }, failLoudly("confluent-native"));

  let running = true;
  let fetching = false;
  const fetch = (): void => {
    if (!running || fetching || chunks.full) return;
    fetching = true;
    consumer.consume(CHUNK * PARTITIONS_IN_FLIGHT, (error, messages) => {
      fetching = false;
      // Records fetched while stopping are left for the group's next member: never committed.
      if (!running) return;
      if (error) return failLoudly("confluent-native")(error);
      for (const message of messages) chunks.add(message);
      fetch();
    });
  };
  chunks.onRoom = fetch;

  await promisify((callback) => producer.connect({}, callback));
  producer.setPollInBackground(true);
  await promisify((callback) => consumer.connect({}, callback));
  // consume(n) returns what it has after this long, even fewer than n records.
  consumer.setDefaultConsumeTimeout(FETCH_MAX_WAIT_MS);
  consumer.subscribe([settings.input]);
  fetch();

  return async () => {
    running = false;
    await chunks.idle();
    await promisify((callback) => consumer.disconnect(callback));
    await promisify<void>((callback) => producer.flush(FLUSH_TIMEOUT_MS, callback));
    await promisify((callback) => producer.disconnect(callback));
  };
}
