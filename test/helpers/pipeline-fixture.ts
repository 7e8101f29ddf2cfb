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
  type PipelineConfig,
  type Prediction,
} from "@sluice/consumer";
import { REPO_ROOT } from "./sidecar.js";

export const FRAUD_PIPELINE = join(REPO_ROOT, "examples/pipelines/fraud.yaml");

export interface FixtureSettings {
  readonly topics: { input: string; output: string; dlq: string; review?: string };
  readonly brokers: readonly string[];
  readonly redisUrl: string;
  readonly sidecarPort: number;
  readonly keyPrefix: string;
  readonly groupId: string;
  readonly delivery?: DeliveryMode;
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
  pipeline["kafka"] = {
    brokers: [...settings.brokers],
    client_id: `sluice-test-${settings.groupId}`,
    group_id: settings.groupId,
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
const CATEGORIES = [
  "grocery",
  "restaurants",
  "fashion",
  "electronics",
  "travel",
  "digital_goods",
  "fuel",
];
/** Gaps on window edges (5 min, 1 h, 24 h, 7 d, a millisecond either side) and ties. */
const EDGE_GAPS = [0, 1, 5 * MIN, 5 * MIN - 1, 5 * MIN + 1, HOUR, HOUR - 1, DAY, 7 * DAY, 52_609];

/** mulberry32: a small seeded PRNG, so a stream is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

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

/**
 * The README's "Input layout", from its text alone: for each event, the same user's events that
 * came before it in the stream.
 */
export function referenceRows(
  stream: readonly FraudEvent[],
  homes: ReadonlyMap<string, string>,
): Float32Array[] {
  const seen = new Map<string, { t: number; amount: number; merchant: string }[]>();
  const CAP_SECONDS = 604_800;
  return stream.map((event) => {
    const t = Date.parse(event.timestamp);
    const history = seen.get(event.user_id) ?? [];
    const mine = { t, amount: event.amount, merchant: event.merchant_id };
    const within = (ms: number) => [...history, mine].filter((e) => e.t > t - ms && e.t <= t);
    const day = within(DAY);
    const mean24 = day.reduce((sum, e) => sum + e.amount, 0) / day.length;
    const previous = history.at(-1);
    const gap =
      previous === undefined ? CAP_SECONDS : Math.min((t - previous.t) / 1000, CAP_SECONDS);
    const date = new Date(t);
    const h = date.getUTCHours() + date.getUTCMinutes() / 60;
    const row = Float32Array.from([
      Math.log1p(event.amount),
      Math.log1p(event.account_age_days),
      within(5 * MIN).length,
      within(HOUR).length,
      day.length,
      event.amount / Math.max(mean24, 1),
      new Set(within(HOUR).map((e) => e.merchant)).size,
      Math.log1p(gap),
      event.country === homes.get(event.user_id) ? 0 : 1,
      Math.sin((2 * Math.PI * h) / 24),
      Math.cos((2 * Math.PI * h) / 24),
      ...["web", "mobile", "pos"].map((c) => (event.channel === c ? 1 : 0)),
      ...["grocery", "restaurants", "fashion", "electronics", "travel", "digital_goods"].map((c) =>
        event.merchant_category === c ? 1 : 0,
      ),
    ]);
    history.push(mine);
    seen.set(event.user_id, history);
    return row;
  });
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
