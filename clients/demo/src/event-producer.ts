/**
 * `sluice produce`: synthetic fraud events into a pipeline's input topic at a steady rate, keyed
 * by user id, bounded by a count or a duration. The users' home countries go to Redis first
 * (`user:<id>` → `home_country`), where the pipeline's lookup reads them.
 *
 * With an OpenTelemetry SDK registered, each event starts a trace: a `send <topic>` PRODUCER span
 * whose W3C context goes into the record's `traceparent` header, so the pipeline continues it.
 */
import { randomUUID } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { Redis } from "ioredis";
import { Producer, ProduceAcks, serializersFrom } from "@platformatic/kafka";
import {
  CONSUMER_TRACER,
  injectTraceContext,
  keyPartitioner,
  messagingAttributes,
  messagingSpanName,
  platformaticSecurity,
  tracePropagationEnabled,
  type KafkaSecurity,
  type RecordHeaders,
} from "@sluice/consumer";
import { SyntheticFraud, type SyntheticFraudOptions } from "./synthetic-fraud.js";

export interface ProduceOptions extends SyntheticFraudOptions {
  readonly brokers: readonly string[];
  /** TLS and SASL, as the pipeline file's `kafka:` gives them. @default plaintext */
  readonly security?: KafkaSecurity;
  readonly topic: string;
  readonly redisUrl: string;
  /** Events per second. */
  readonly rate: number;
  /** Stop after this many records… */
  readonly count?: number;
  /** …or after this many milliseconds, whichever comes first. */
  readonly durationMs?: number;
  /** Called about once a second, and once at the end. */
  readonly progress?: (report: ProduceReport) => void;
  /** Aborting stops after the send in flight (labels still waiting are not sent). */
  readonly signal?: AbortSignal;
  /**
   * From when the distribution shifts (`SyntheticFraud.next(now, true)`): seconds after the start,
   * or a share (0–1) of the run's duration, else of its count. @default never
   */
  readonly driftAt?: { readonly seconds: number } | { readonly share: number };
  /** Where each event's true label goes, `labelDelayMs` after the event: late labels. @default none */
  readonly labelsTopic?: string;
  /** @default 5000 */
  readonly labelDelayMs?: number;
}

export interface ProduceReport {
  readonly runId: string;
  readonly produced: number;
  readonly malformed: number;
  readonly fraud: number;
  /** Events produced under drift (after `driftAt`). */
  readonly drifted: number;
  /** Labels sent to `labelsTopic`. */
  readonly labels: number;
  readonly elapsedMs: number;
  /** Records per second so far. */
  readonly rate: number;
}

/** Sends happen this often; each carries the events due since the last one. */
const TICK_MS = 20;
const PROGRESS_EVERY_MS = 1_000;
const CLIENT_ID = "sluice-produce";
/** Chargebacks take weeks; a demo's few seconds stand for them. */
export const DEFAULT_LABEL_DELAY_MS = 5_000;

/** A label for the label topic (`monitoring.labels`, docs/monitoring.md). */
interface PendingLabel {
  readonly at: number;
  readonly key: string;
  readonly value: string;
}

type Bytes = string | Buffer;
/** Text as UTF-8 (keys, JSON values, trace headers), bytes as they are (malformed values). */
const bytes = serializersFrom<Bytes>((data?: Bytes) =>
  typeof data === "string" ? Buffer.from(data) : data,
);

const tracer = trace.getTracer(CONSUMER_TRACER);

/**
 * The root span of one event's trace, its context written into `headers`. The span stays open
 * until the broker acknowledges the send it goes out in.
 */
function startSendSpan(
  topic: string,
  key: string,
  id: string | undefined,
  headers: RecordHeaders,
): Span {
  const attributes = {
    ...messagingAttributes("send", topic),
    "messaging.client.id": CLIENT_ID,
    "messaging.kafka.message.key": key,
  };
  const span = tracer.startSpan(
    messagingSpanName("send", topic),
    {
      kind: SpanKind.PRODUCER,
      root: true,
      attributes: id === undefined ? attributes : { ...attributes, "messaging.message.id": id },
    },
    ROOT_CONTEXT,
  );
  injectTraceContext(trace.setSpan(ROOT_CONTEXT, span), headers);
  return span;
}

export async function produceSyntheticEvents(options: ProduceOptions): Promise<ProduceReport> {
  if (options.count === undefined && options.durationMs === undefined) {
    throw new Error("produce: expected a count or a duration, got neither (it must stop)");
  }
  const runId = options.runId ?? randomUUID().slice(0, 8);
  const generator = new SyntheticFraud({ ...options, runId });
  await writeHomes(options.redisUrl, generator.homes());

  const producer = new Producer({
    clientId: CLIENT_ID,
    bootstrapBrokers: [...options.brokers],
    ...platformaticSecurity(options.security, options.brokers),
    idempotent: true,
    acks: ProduceAcks.ALL,
    serializers: bytes,
    // Java's murmur2 partitioning: a user's events land where any other producer's would.
    partitioner: keyPartitioner(),
  });
  // Checked once: without an SDK no span is made and no header written.
  const traced = tracePropagationEnabled();
  const started = Date.now();
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const end =
    options.durationMs === undefined ? Number.POSITIVE_INFINITY : started + options.durationMs;
  let produced = 0;
  let malformed = 0;
  let fraud = 0;
  let drifted = 0;
  let labels = 0;
  let lastProgress = started;
  const driftFrom = driftStart(options, started);
  const labelDelayMs = options.labelDelayMs ?? DEFAULT_LABEL_DELAY_MS;
  const pendingLabels: PendingLabel[] = [];
  const report = (): ProduceReport => {
    const elapsedMs = Date.now() - started;
    return {
      runId,
      produced,
      malformed,
      fraud,
      drifted,
      labels,
      elapsedMs,
      rate: produced / Math.max(elapsedMs / 1000, 0.001),
    };
  };
  const labelsTopic = options.labelsTopic;
  /** Sends the labels due by `now` (all of them with `Infinity`). */
  const sendLabels = async (now: number): Promise<void> => {
    if (labelsTopic === undefined) return;
    let count = 0;
    while (count < pendingLabels.length && pendingLabels[count]!.at <= now) count++;
    if (count === 0) return;
    const due = pendingLabels.slice(0, count);
    await producer.send({
      messages: due.map((label) => ({ topic: labelsTopic, key: label.key, value: label.value })),
    });
    pendingLabels.splice(0, count);
    labels += count;
  };
  try {
    while (produced < limit && Date.now() < end && options.signal?.aborted !== true) {
      const now = Date.now();
      const due =
        Math.min(Math.floor(((now - started) / 1000) * options.rate) + 1, limit) - produced;
      if (due > 0) {
        const spans: Span[] = [];
        const messages = Array.from({ length: due }, (_, i) => {
          const shifted = driftFrom(now, produced + i);
          const record = generator.next(now, shifted);
          const value = record.kind === "malformed" ? record.value : JSON.stringify(record.event);
          if (record.kind === "malformed") malformed++;
          else {
            if (record.fraud) fraud++;
            if (shifted) drifted++;
            if (labelsTopic !== undefined) {
              pendingLabels.push({
                at: now + labelDelayMs,
                key: record.key,
                value: JSON.stringify({
                  id: record.event.id,
                  label: record.fraud ? 1 : 0,
                  labelled_at: new Date(now + labelDelayMs).toISOString(),
                }),
              });
            }
          }
          const { topic } = options;
          if (!traced) return { topic, key: record.key, value };
          const headers: RecordHeaders = {};
          const id = record.kind === "event" ? record.event.id : undefined;
          spans.push(startSendSpan(topic, record.key, id, headers));
          return { topic, key: record.key, value, headers: headers as Record<string, Bytes> };
        });
        try {
          await producer.send({ messages });
        } catch (error) {
          for (const span of spans) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          }
          throw error;
        } finally {
          for (const span of spans) span.end();
        }
        produced += due;
      }
      await sendLabels(Date.now());
      if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        options.progress?.(report());
      }
      await sleep(TICK_MS);
    }
    // The last events' labels are still to come: wait for them (at most the label delay).
    while (pendingLabels.length > 0 && options.signal?.aborted !== true) {
      await sleep(Math.min(Math.max(pendingLabels[0]!.at - Date.now(), 0), PROGRESS_EVERY_MS));
      await sendLabels(Date.now());
      if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        options.progress?.(report());
      }
    }
  } finally {
    await producer.close();
  }
  const final = report();
  options.progress?.(final);
  return final;
}

/** Whether the event produced at `now` as the `index`-th (from 0) is drawn from the shifted distribution. */
function driftStart(
  options: Pick<ProduceOptions, "driftAt" | "durationMs" | "count">,
  started: number,
): (now: number, index: number) => boolean {
  const at = options.driftAt;
  if (at === undefined) return () => false;
  if ("seconds" in at) return (now) => now - started >= at.seconds * 1000;
  if (options.durationMs !== undefined) {
    const from = started + at.share * options.durationMs;
    // With a count too, whichever bound ends the run first: the share of the count then.
    if (options.count === undefined) return (now) => now >= from;
    const fromIndex = at.share * options.count;
    return (now, index) => now >= from || index >= fromIndex;
  }
  const fromIndex = at.share * options.count!;
  return (_now, index) => index >= fromIndex;
}

async function writeHomes(url: string, homes: ReadonlyMap<string, string>): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    const batch = redis.pipeline();
    for (const [user, home] of homes) batch.hset(`user:${user}`, "home_country", home);
    const results = await batch.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0] as Error;
  } catch (error) {
    throw new Error(
      `cannot write the users' home countries to ${redact(url)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    redis.disconnect();
  }
}

/** A URL without its password, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "the Redis URL";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
