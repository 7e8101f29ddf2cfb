/**
 * Test support for the Kafka pipeline: the worked example's config pointed at the test's topics,
 * sidecar, Redis prefix and group; a seeded stream of fraud events; and the README's input layout
 * computed independently of the feature engine, to check what the pipeline computed.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  parsePipelineConfig,
  type DeliveryMode,
  type KafkaClientName,
  type PipelineConfig,
  type Prediction,
} from "@sluice/consumer";
import { ONE_HOT_CATEGORIES, prng } from "./fraud-reference.js";
import { REPO_ROOT } from "../paths.js";

export { prng, referenceRows } from "./fraud-reference.js";

export const FRAUD_PIPELINE = join(REPO_ROOT, "examples/pipelines/fraud.yaml");

export interface FixtureSettings {
  readonly topics: { input: string; output: string; dlq: string; review?: string };
  readonly brokers: readonly string[];
  readonly redisUrl: string;
  readonly sidecarPort: number;
  readonly keyPrefix: string;
  readonly groupId: string;
  readonly delivery?: DeliveryMode;
  /** The pipeline's Kafka client. @default the pipeline's default (platformatic) */
  readonly client?: KafkaClientName;
  /** Static membership. @default none */
  readonly groupInstanceId?: string;
  readonly maxEvents?: number;
  readonly lingerMs?: number;
  /** Merged into `pipeline:` last. */
  readonly patch?: Record<string, unknown>;
}

/** The pipeline document of examples/pipelines/fraud.yaml with the test's settings. */
export async function fraudDocument(
  settings: FixtureSettings,
): Promise<{ pipeline: Record<string, unknown> }> {
  const document = parseYaml(await readFile(FRAUD_PIPELINE, "utf8")) as {
    pipeline: Record<string, unknown>;
  };
  const pipeline = document.pipeline;
  const { compression } = pipeline["kafka"] as { compression?: unknown };
  pipeline["kafka"] = {
    ...(settings.client === undefined ? {} : { client: settings.client }),
    // The file's (zstd): every guarantee is tested on the outputs as the example writes them.
    ...(compression === undefined ? {} : { compression }),
    brokers: [...settings.brokers],
    client_id: `sluice-test-${settings.groupId}`,
    group_id: settings.groupId,
    ...(settings.groupInstanceId === undefined
      ? {}
      : { group_instance_id: settings.groupInstanceId }),
    // The broker's minimum: a killed consumer's partitions move on within seconds.
    session_timeout_ms: 6_000,
  };
  pipeline["topics"] = {
    input: settings.topics.input,
    output: settings.topics.output,
    dead_letter: settings.topics.dlq,
    ...(settings.topics.review === undefined ? {} : { review: settings.topics.review }),
  };
  pipeline["model"] = {
    ...(pipeline["model"] as Record<string, unknown>),
    sidecar: `127.0.0.1:${settings.sidecarPort}`,
  };
  pipeline["batch"] = {
    max_events: settings.maxEvents ?? 64,
    linger_ms: settings.lingerMs ?? 5,
  };
  pipeline["delivery"] = settings.delivery ?? "at_least_once";
  // Short backoff: the failure tests wait out outages of a few seconds.
  pipeline["retry"] = { initial_backoff_ms: 100, max_backoff_ms: 1_000 };
  pipeline["redis"] = { url: settings.redisUrl, key_prefix: settings.keyPrefix };
  // Several consumers run at once (and beside other tests): each serves metrics on a free port.
  pipeline["metrics"] = { port: 0 };
  Object.assign(pipeline, settings.patch ?? {});
  return document;
}

export async function fraudConfig(settings: FixtureSettings): Promise<PipelineConfig> {
  return parsePipelineConfig(
    await fraudDocument(settings),
    {},
    join(REPO_ROOT, "examples/pipelines"),
  );
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

export interface FraudEvent {
  id: string;
  user_id: string;
  amount: number;
  currency: string;
  merchant_id: string;
  merchant_category: string;
  country: string;
  channel: string;
  account_age_days: number;
  timestamp: string;
}

export interface EventStream {
  /** In stream order; each user's events in event-time order. */
  readonly events: FraudEvent[];
  /** user_id → home country, for the Redis lookup records. */
  readonly homes: Map<string, string>;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse("2024-03-07T12:00:00Z");
const COUNTRIES = ["NG", "AU", "FR", "US", "BR"];
const CHANNELS = ["web", "mobile", "pos", "atm"];
/** The one-hot categories and one outside them. */
const CATEGORIES = [...ONE_HOT_CATEGORIES, "fuel"];
/** Gaps on window edges (5 min, 1 h, 24 h, 7 d, a millisecond either side) and ties. */
const EDGE_GAPS = [0, 1, 5 * MIN, 5 * MIN - 1, 5 * MIN + 1, HOUR, HOUR - 1, DAY, 7 * DAY, 52_609];

/** `users` users × `perUser` events, merged in event-time order; ids and users carry `run`. */
export function fraudStream(
  seed: number,
  users: number,
  perUser: number,
  run: string,
): EventStream {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const homes = new Map<string, string>();
  const all: { event: FraudEvent; t: number; user: number; seq: number }[] = [];
  for (let user = 0; user < users; user++) {
    const userId = `${run}-u${user}`;
    const home = pick(COUNTRIES);
    homes.set(userId, home);
    const age = Math.floor(random() * 2000);
    let t = T0 + Math.floor(random() * HOUR);
    for (let seq = 0; seq < perUser; seq++) {
      const r = random();
      t +=
        r < 0.4
          ? pick(EDGE_GAPS)
          : r < 0.9
            ? Math.floor(random() * 20 * MIN)
            : Math.floor(random() * DAY);
      all.push({
        user,
        seq,
        t,
        event: {
          id: `${run}-tx-${user}-${seq}`,
          user_id: userId,
          amount: Math.round(random() * 50_000) / 100,
          currency: "EUR",
          merchant_id: `m${Math.floor(random() * 8)}`,
          merchant_category: pick(CATEGORIES),
          country: random() < 0.7 ? home : pick(COUNTRIES),
          channel: pick(CHANNELS),
          account_age_days: age,
          timestamp: new Date(t).toISOString(),
        },
      });
    }
  }
  all.sort((a, b) => a.t - b.t || a.user - b.user || a.seq - b.seq);
  return { events: all.map(({ event }) => event), homes };
}

/** Kafka messages for `events`, keyed by user id. */
export function eventMessages(events: readonly FraudEvent[]): { key: string; value: string }[] {
  return events.map((event) => ({ key: event.user_id, value: JSON.stringify(event) }));
}

export function parsePrediction(value: Buffer | null): Prediction {
  if (value === null) throw new Error("a prediction record without a value");
  return JSON.parse(value.toString("utf8")) as Prediction;
}

/** Header value as text. */
export function header(
  headers: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}
