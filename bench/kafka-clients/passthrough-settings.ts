/**
 * What every client's passthrough is told, and the work they all do the same way: consume the
 * input from the beginning in one consumer group, produce each record's key, value and headers
 * unchanged to the output with an idempotent producer and acks from all in-sync replicas, and
 * commit a partition's offset only once the records before it are acknowledged (at-least-once),
 * up to 8 partitions in flight, at most 256 records per produce and commit. That is the Kafka work
 * of the Sluice pipeline, as in `bench/pipeline/passthrough.ts`.
 */
import { DEFAULT_FETCH_MAX_WAIT_MS, DEFAULT_PARTITION_CONCURRENCY } from "@sluice/consumer";
import { commaList } from "../lib/flags.js";

export const CLIENTS = ["kafkajs", "platformatic", "confluent", "confluent-native"] as const;
export type ClientName = (typeof CLIENTS)[number];

/** The clients a `--clients` flag names (repeated or comma-separated); all of them when absent. */
export function parseClients(values: readonly string[] | undefined): ClientName[] {
  if (values === undefined) return [...CLIENTS];
  const names = commaList(values) ?? [];
  for (const name of names) {
    if (!(CLIENTS as readonly string[]).includes(name))
      throw new Error(`--clients: expected names among ${CLIENTS.join(", ")}, got "${name}"`);
  }
  return names as ClientName[];
}

export interface PassthroughSettings {
  readonly client: ClientName;
  readonly brokers: readonly string[];
  readonly input: string;
  readonly output: string;
  readonly groupId: string;
  /** Static membership (KIP-345): the member keeps its partitions across a restart. */
  readonly groupInstanceId?: string;
  /** A member silent this long loses its partitions (and a static member its identity). */
  readonly sessionTimeoutMs: number;
}

/** Called with each partition batch's size as it arrives, before it is produced. */
export type OnRecords = (count: number) => void;

/** Stops consuming (the batch in hand finished), leaves the group and disconnects. */
export type StopPassthrough = () => Promise<void>;

/** fraud.yaml's `batch.max_events`: records per produce and commit. */
export const CHUNK = 256;
/** Partitions handled at once, as the pipeline. */
export const PARTITIONS_IN_FLIGHT = DEFAULT_PARTITION_CONCURRENCY;
/** How long a fetch waits for data, as the pipeline. */
export const FETCH_MAX_WAIT_MS = DEFAULT_FETCH_MAX_WAIT_MS;
/** Three heartbeats per session, as Kafka advises, and never more than kafkajs's 3 s default. */
export function heartbeatIntervalMs(sessionTimeoutMs: number): number {
  return Math.min(3_000, Math.floor(sessionTimeoutMs / 3));
}

/** A benchmark child fails loudly rather than retry and skew the figures. */
export function failLoudly(client: ClientName): (error: unknown) => void {
  return (error) => {
    process.stderr.write(`${client} passthrough: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  };
}
