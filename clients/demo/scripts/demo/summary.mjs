// The demo's last words: what the run did, as the verifier accounts for it, and the Redis keys it
// leaves behind removed (Kafka's topics and groups the demo deletes itself).
import { Redis } from "ioredis";
import { parsePrometheusText } from "@sluice/kit";

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
export async function cleanRedis(url, producerRun, labelPrefix) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  redis.on("error", () => {});
  let removed = 0;
  try {
    await redis.connect();
    const patterns = [`user:u-${producerRun}-*`, `sluice:features:*{u-${producerRun}-*`];
    if (labelPrefix !== undefined) patterns.push(`${labelPrefix}*`);
    for (const pattern of patterns) {
      for await (const keys of redis.scanStream({ match: pattern, count: 1_000 })) {
        if (keys.length > 0) removed += await redis.unlink(...keys);
      }
    }
  } finally {
    redis.disconnect();
  }
  return removed;
}

const figure = (value, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

/**
 * The monitoring lines of the summary, from the consumer's /metrics text scraped before it
 * stopped: each version's drift band changes and the subjects out of the stable band (with their
 * PSI), and the late labels' evaluation figures per version and arm.
 */
export function monitoringSummary(metricsText, { driftAtS, labelDelayS }) {
  const samples = parsePrometheusText(metricsText);
  const of = (name) => samples.filter((sample) => sample.name === name);
  const lines = [];
  const BANDS = ["stable", "moderate", "major"];
  const versions = [
    ...new Set(of("sluice_consumer_drift_psi").map((s) => s.labels.version)),
  ].sort();
  if (versions.length === 0) {
    lines.push("  drift           not judged yet (fewer events than min_events per version)");
  }
  for (const version of versions) {
    const events = of("sluice_consumer_drift_events_total").filter(
      (s) => s.labels.version === version && s.value > 0,
    );
    const changes = events.map((s) => `${s.value} → ${s.labels.band}`).join(", ");
    const bands = of("sluice_consumer_drift_band").filter((s) => s.labels.version === version);
    const psi = new Map(
      of("sluice_consumer_drift_psi")
        .filter((s) => s.labels.version === version)
        .map((s) => [s.labels.subject, s.value]),
    );
    const drifted = bands
      .filter((s) => s.value > 0)
      .sort((a, b) => b.value - a.value || psi.get(b.labels.subject) - psi.get(a.labels.subject))
      .map(
        (s) =>
          `${s.labels.subject} ${BANDS[s.value]} (PSI ${figure(psi.get(s.labels.subject), 2)})`,
      );
    const judged = bands.length > 0;
    lines.push(
      `  drift v${version}        ${!judged ? "not judged yet" : drifted.length === 0 ? "every feature and the score stable" : drifted.join(", ")}; band changes: ${changes === "" ? "none" : changes} (load shifted after ${driftAtS} s)`,
    );
  }
  const evaluation = of("sluice_consumer_evaluation_labels");
  if (evaluation.length === 0) {
    lines.push(
      `  evaluation      no labels joined yet (they come ${labelDelayS} s after their events)`,
    );
  }
  for (const series of evaluation.sort((a, b) => (a.labels.arm < b.labels.arm ? -1 : 1))) {
    const { version, arm } = series.labels;
    const read = (name) =>
      of(`sluice_consumer_evaluation_${name}`).find(
        (s) => s.labels.version === version && s.labels.arm === arm,
      )?.value ?? Number.NaN;
    lines.push(
      `  evaluation      ${arm === "" ? "" : `${arm} `}v${version}: ${series.value} labelled predictions, precision ${figure(read("precision"))}, recall ${figure(read("recall"))}, ROC AUC ${figure(read("roc_auc"))}, log loss ${figure(read("log_loss"))}, Brier ${figure(read("brier"))}`,
    );
  }
  const labels = of("sluice_consumer_labels_total")
    .map((s) => `${s.labels.outcome} ${s.value}`)
    .join(", ");
  if (labels !== "")
    lines.push(`  labels          ${labels} (${labelDelayS} s after their events)`);
  return lines;
}
