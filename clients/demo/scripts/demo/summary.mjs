// The demo's last words: what the run did, as the verifier accounts for it, and the Redis keys it
// leaves behind removed (Kafka's topics and groups the demo deletes itself).
import { Redis } from "ioredis";

const count = (n) => n.toLocaleString("en-US");

/**
 * The summary's lines. `produced` is the match of the load generator's last line (run id, events,
 * fraud, malformed); `report` the verifier's, when it ran.
 */
export function summarize({ run, elapsedMs, produced, report, drained }) {
  const [, producerRun, events, fraud, malformed] = produced;
  const seconds = elapsedMs === undefined ? "" : ` over ${Math.round(elapsedMs / 1000)} s`;
  const lines = [
    `Summary of run ${run}`,
    `  load generator  ${count(Number(events))} events${seconds} (ids tx-${producerRun}-…; ${count(Number(malformed))} malformed, ${count(Number(fraud))} in fraud bursts)`,
  ];
  if (report === undefined) {
    lines.push("  verify          did not run (see the error below)");
    return lines;
  }
  const codes = Object.entries(report.deadLettersByCode)
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  lines.push(
    `  predictions     ${count(report.predictions)} for ${count(report.predicted)} events`,
    `  dead letters    ${count(report.deadLetters)}${codes === "" ? "" : ` (${codes})`}`,
    `  for review      ${count(report.reviews)} predictions under the confidence threshold`,
  );
  const duplicates = Object.keys(report.duplicates).length;
  const accounted =
    report.missing.length === 0
      ? "every event accounted for"
      : drained
        ? "events lost"
        : "the consumer was stopped before it caught up";
  lines.push(
    `  verify          ${accounted}: ${count(report.missing.length)} missing, ${count(duplicates)} duplicated${report.complete ? "" : " (the topics were not read to their ends in time)"}`,
  );
  const latency = report.eventToPrediction;
  if (latency !== undefined) {
    lines.push(
      `  latency         p50 ${latency.p50} ms, p90 ${latency.p90} ms, p99 ${latency.p99} ms, max ${latency.max} ms (every prediction: event time → prediction record written)`,
    );
  }
  return lines;
}

/**
 * Deletes what the run wrote to Redis: the users' home countries (`user:u-<run>-…`, written by the
 * load generator, no expiry) and the pipeline's feature state for them (which would expire after a
 * day). Resolves with how many keys went.
 */
export async function cleanRedis(url, producerRun) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  redis.on("error", () => {});
  let removed = 0;
  try {
    await redis.connect();
    for (const pattern of [`user:u-${producerRun}-*`, `sluice:features:*{u-${producerRun}-*`]) {
      for await (const keys of redis.scanStream({ match: pattern, count: 1_000 })) {
        if (keys.length > 0) removed += await redis.unlink(...keys);
      }
    }
  } finally {
    redis.disconnect();
  }
  return removed;
}
