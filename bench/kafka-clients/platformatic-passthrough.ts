/**
 * The passthrough on @platformatic/kafka (pure JavaScript). Its consumer is a Node.js Readable of
 * single messages with no per-partition batch callback, so `PartitionChunks` gives it kafkajs's
 * `eachBatch` shape; the stream is paused while too many records wait.
 */
import type { Readable } from "node:stream";
import { importOptional } from "./optional-module.js";
import { PartitionChunks } from "./partition-chunks.js";
import {
  FETCH_MAX_WAIT_MS,
  failLoudly,
  heartbeatIntervalMs,
  type OnRecords,
  type PassthroughSettings,
  type StopPassthrough,
} from "./passthrough-settings.js";

/** The members of @platformatic/kafka 2.x used here. */
interface PlatformaticModule {
  readonly Producer: new (options: Record<string, unknown>) => PlatformaticProducer;
  readonly Consumer: new (options: Record<string, unknown>) => PlatformaticConsumer;
}

interface PlatformaticProducer {
  send(options: {
    messages: {
      topic: string;
      key?: Buffer | undefined;
      value?: Buffer | undefined;
      headers?: Map<Buffer, Buffer>;
    }[];
  }): Promise<unknown>;
  close(): Promise<void>;
}

interface PlatformaticConsumer {
  consume(options: Record<string, unknown>): Promise<Readable & { close(): Promise<void> }>;
  commit(options: {
    offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[];
  }): Promise<void>;
  close(force?: boolean): Promise<void>;
}

interface PlatformaticMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly key?: Buffer;
  readonly value?: Buffer;
  readonly headers: Map<Buffer, Buffer>;
}

export function loadPlatformatic(): Promise<PlatformaticModule> {
  return importOptional<PlatformaticModule>("@platformatic/kafka");
}

export async function startPlatformaticPassthrough(
  settings: PassthroughSettings,
  onRecords: OnRecords,
): Promise<StopPassthrough> {
  const { Producer, Consumer } = await loadPlatformatic();
  const producer = new Producer({
    clientId: settings.groupId,
    bootstrapBrokers: [...settings.brokers],
    idempotent: true,
    acks: -1,
  });
  const consumer = new Consumer({
    clientId: settings.groupId,
    groupId: settings.groupId,
    bootstrapBrokers: [...settings.brokers],
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: heartbeatIntervalMs(settings.sessionTimeoutMs),
    maxWaitTime: FETCH_MAX_WAIT_MS,
    ...(settings.groupInstanceId === undefined
      ? {}
      : { groupInstanceId: settings.groupInstanceId }),
  });
  const stream = await consumer.consume({
    topics: [settings.input],
    // The group's committed offsets; a new group starts at the earliest (fromBeginning).
    mode: "committed",
    fallbackMode: "earliest",
    autocommit: false,
  });

  const chunks = new PartitionChunks<PlatformaticMessage>(async (partition, chunk) => {
    onRecords(chunk.length);
    const last = chunk[chunk.length - 1]!;
    await producer.send({
      messages: chunk.map((m) => ({
        topic: settings.output,
        key: m.key,
        value: m.value,
        headers: m.headers,
      })),
    });
    await consumer.commit({
      offsets: [
        {
          topic: last.topic,
          partition,
          offset: last.offset + 1n,
          leaderEpoch: last.leaderEpoch,
        },
      ],
    });
  }, failLoudly("platformatic"));
  chunks.onRoom = () => {
    if (stream.isPaused()) stream.resume();
  };
  stream.on("data", (message: PlatformaticMessage) => {
    chunks.add(message);
    if (chunks.full) stream.pause();
  });
  stream.on("error", failLoudly("platformatic"));

  return async () => {
    await stream.close();
    await chunks.idle();
    await consumer.close();
    await producer.close();
  };
}
