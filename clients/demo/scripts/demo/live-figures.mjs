// The demo's live figures, measured from Kafka as a downstream reader sees them, never from the
// processes' own counters: the topics' ends (records produced, predicted, dead-lettered, sent for
// review), the pipeline group's committed offsets (lag), and the prediction records themselves
// (latency, samples), read by a group of the demo's own that commits nothing.
import { Consumer } from "@platformatic/kafka";

/** Rates are averaged over this long: one second alone jitters with the producer's ticks. */
const RATE_WINDOW_MS = 5_000;
/** Latency percentiles cover the predictions read in this window. */
export const LATENCY_WINDOW_MS = 10_000;
/** Input records remembered for the samples' amounts (a minute at the demo's rate). */
const REMEMBERED_INPUTS = 20_000;
const SAMPLES = 5;

/**
 * Starts reading the pipeline's topics. `admin` is a KafkaAdmin of @sluice/testing (the caller's,
 * left open); `topics` = { input, output, deadLetter, review }; `groupId` is the pipeline's group
 * (for its lag); `viewGroupId` the reader's own.
 */
export async function watchPipeline({ brokers, admin, topics, groupId, viewGroupId }) {
  const reader = new Consumer({
    clientId: "sluice-demo",
    groupId: viewGroupId,
    bootstrapBrokers: brokers,
    maxWaitTime: 100,
    // The broker's minimum: the view's group goes soon after the demo.
    sessionTimeout: 6_000,
    heartbeatInterval: 1_000,
  });
  const stream = await reader.consume({
    topics: [topics.input, topics.output],
    mode: "earliest",
    autocommit: false,
  });

  /** `partition:offset` of input records → what the samples show of them. */
  const inputs = new Map();
  /** Recent predictions: { at, latencyMs, prediction, source }. */
  const recent = [];
  /** Topic totals once a second, for the rates. */
  const history = [];
  let lastFraud;

  stream.on("error", () => {});
  stream.on("data", (message) => {
    const now = Date.now();
    if (message.topic === topics.input) {
      rememberInput(inputs, `${message.partition}:${message.offset}`, message.value);
      return;
    }
    const prediction = parse(message.value);
    if (prediction === undefined) return;
    const header = (name) =>
      [...message.headers].find(([key]) => key.toString() === name)?.[1]?.toString();
    const entry = {
      at: now,
      // The prediction record's Kafka timestamp (when the consumer produced it) minus the
      // event's own time (when the load generator made and sent it).
      latencyMs: Number(message.timestamp) - Date.parse(prediction.event_time),
      prediction,
      source: `${header("sluice-source-partition")}:${header("sluice-source-offset")}`,
    };
    recent.push(entry);
    if (prediction.label === 1) lastFraud = entry;
    while (recent.length > 0 && recent[0].at < now - LATENCY_WINDOW_MS) recent.shift();
  });

  const total = (topic) => admin.written(topic);

  /** Σ over the input's partitions of (end − the group's committed offset). */
  async function lag() {
    const [ends, committed] = await Promise.all([
      admin.topicEnds(topics.input),
      admin.committedOffsets(groupId, topics.input),
    ]);
    return ends.reduce((sum, { partition, high, low }) => {
      const offset = committed.get(partition) ?? -1;
      // -1: the group has committed nothing there yet, so everything from the start is behind.
      const from = offset < 0 ? low : offset;
      return sum + Math.max(high - from, 0);
    }, 0);
  }

  return {
    /** The figures now; call about once a second. */
    async snapshot() {
      const now = Date.now();
      const [produced, predicted, deadLetters, review, behind] = await Promise.all([
        total(topics.input),
        total(topics.output),
        total(topics.deadLetter),
        total(topics.review),
        lag(),
      ]);
      history.push({ at: now, produced, predicted, deadLetters, review });
      while (history.length > 2 && history[1].at <= now - RATE_WINDOW_MS) history.shift();
      const first = history[0];
      const seconds = (now - first.at) / 1000;
      const rate = (key, value) => (seconds > 0 ? (value - first[key]) / seconds : 0);
      const window = recent.filter((entry) => entry.at >= now - LATENCY_WINDOW_MS);
      return {
        produced: { total: produced, rate: rate("produced", produced) },
        predicted: { total: predicted, rate: rate("predicted", predicted) },
        deadLetters: { total: deadLetters, rate: rate("deadLetters", deadLetters) },
        review: { total: review, rate: rate("review", review) },
        lag: behind,
        latency: percentiles(window.map((entry) => entry.latencyMs)),
        samples: samples(window, lastFraud, inputs),
      };
    },
    /** Whether the pipeline has predicted or dead-lettered everything produced so far. */
    async caughtUp() {
      return (await lag()) === 0;
    },
    async close() {
      await stream.close().catch(() => {});
      await reader.close(true).catch(() => {});
    },
  };
}

function parse(value) {
  try {
    return JSON.parse(value?.toString("utf8") ?? "null") ?? undefined;
  } catch {
    return undefined;
  }
}

function rememberInput(inputs, coordinate, value) {
  const event = parse(value);
  // A malformed event is dead-lettered, never predicted: nothing to show it with.
  if (event === undefined || typeof event.amount !== "number") return;
  inputs.set(coordinate, { amount: event.amount, currency: event.currency });
  if (inputs.size > REMEMBERED_INPUTS) inputs.delete(inputs.keys().next().value);
}

/** The latest predictions, with the latest fraud alert among them when there was one lately. */
function samples(window, lastFraud, inputs) {
  const latest = window.slice(-SAMPLES);
  if (
    lastFraud !== undefined &&
    lastFraud.at >= Date.now() - LATENCY_WINDOW_MS &&
    !latest.includes(lastFraud)
  ) {
    latest.splice(0, 1, lastFraud);
  }
  return latest.map(({ prediction, source }) => ({
    id: prediction.id,
    user: prediction.key,
    ...inputs.get(source),
    model: prediction.model,
    version: prediction.model_version,
    label: prediction.label,
    score: prediction.score,
  }));
}

/** Nearest-rank p50/p95/p99, or undefined with no values. */
export function percentiles(values) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
