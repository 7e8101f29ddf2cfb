/**
 * The consumer's Prometheus metrics on real servers (the local Kafka and Redis, a sidecar on port
 * 0, fresh topics and group per test): after N events the registry and `sluice consume`'s
 * /metrics endpoint report N consumed, N predictions, the micro-batches and no lag; `sluice top
 * --once` shows the same next to the sidecar's numbers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrometheusText, sumSamples } from "@sluice/kit";
import {
  eventMessages,
  fraudDocument,
  fraudStream,
  pipelineHarness,
  readMetric,
  readMetrics,
  waitFor,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 90_000;
/** A cold `node --import tsx` of the CLI plus joining the group. */
const START_TIMEOUT_MS = 30_000;

describe("consumer metrics", { timeout: 4 * 60_000 }, () => {
  const h = pipelineHarness();

  it(
    "counts N events, N predictions and their micro-batches, and ends with no lag",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(3, { maxEvents: 16 });
      const { events, homes } = fraudStream(11, 8, 20, `${h.run}-metrics`);
      await h.loadHomes(homes);
      const pipeline = await h.pipeline(settings);
      const bad = { key: "k", value: "{not json" };
      await h.kafka.produce(topics.in, [...eventMessages(events), bad]);
      const n = events.length + 1;
      const scrape = async () => parsePrometheusText(await pipeline.metrics.registry.metrics());
      const p = { pipeline: "fraud" };
      await waitFor("every event counted with no lag left", async () => {
        const s = await scrape();
        return (
          sumSamples(s, "sluice_consumer_events_total", p) === n &&
          sumSamples(s, "sluice_consumer_lag", p) === 0
        );
      });
      const s = await scrape();
      assert.equal(sumSamples(s, "sluice_consumer_events_total", { ...p, topic: topics.in }), n);
      assert.equal(
        sumSamples(s, "sluice_consumer_predictions_total", { ...p, model: "fraud", version: "1" }),
        events.length,
      );
      assert.equal(
        sumSamples(s, "sluice_consumer_dead_letters_total", { code: "decode_error" }),
        1,
      );
      assert.equal(
        sumSamples(s, "sluice_consumer_records_produced_total", { topic: topics.out }),
        events.length,
      );
      assert.equal(
        sumSamples(s, "sluice_consumer_records_produced_total", { topic: topics.review }),
        pipeline.stats.reviews,
      );
      // Every event went through a micro-batch of at most 16.
      assert.equal(sumSamples(s, "sluice_consumer_micro_batch_size_sum", p), n);
      const batches = sumSamples(s, "sluice_consumer_micro_batch_size_count", p);
      assert.equal(batches, pipeline.stats.microBatches);
      assert.ok(batches >= Math.ceil(n / 16), `${batches} micro-batches`);
      assert.equal(sumSamples(s, "sluice_consumer_micro_batch_size_bucket", { le: "16" }), batches);
      for (const stage of ["decode", "features", "inference", "produce", "commit"]) {
        assert.equal(
          sumSamples(s, "sluice_consumer_stage_duration_seconds_count", { stage }),
          batches,
          stage,
        );
      }
      assert.equal(sumSamples(s, "sluice_consumer_end_to_end_latency_seconds_count", p), n);
      assert.equal(sumSamples(s, "sluice_consumer_prediction_score_count", p), events.length);
      assert.equal(sumSamples(s, "sluice_consumer_prediction_confidence_count", p), events.length);
      assert.equal(sumSamples(s, "sluice_consumer_model_info", { version: "1" }), 1);
      assert.equal(sumSamples(s, "sluice_consumer_assigned_partitions", p), 3);
      assert.ok(sumSamples(s, "sluice_consumer_rebalances_total", p) >= 1);
      // The users' window state, held in memory: at least the ~1 KB each entity costs.
      const entities = sumSamples(s, "sluice_consumer_feature_state_entities", p);
      assert.ok(entities >= 1, `${entities} entities held`);
      assert.ok(sumSamples(s, "sluice_consumer_feature_state_bytes", p) >= entities * 1024);
      // A lag series for each partition that got events, all at zero.
      const lags = s.filter((x) => x.name === "sluice_consumer_lag");
      assert.ok(lags.length >= 1 && lags.every((x) => x.value === 0), JSON.stringify(lags));

      await pipeline.stop();
      const stopped = await scrape();
      assert.equal(stopped.filter((x) => x.name === "sluice_consumer_lag").length, 0);
      assert.equal(sumSamples(stopped, "sluice_consumer_events_total", p), n, "counters stay");
    },
  );

  it(
    "sluice consume serves them at /metrics, and sluice top --once shows them beside the sidecar's",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(3, { maxEvents: 16 });
      const file = await h.writeConfig(await fraudDocument(settings));
      const consumer = h.cli(["consume", "--config", file, "--metrics-port", "0"]);
      const line = await consumer.line(/metrics at http:/, START_TIMEOUT_MS);
      const port = (JSON.parse(line) as { metricsPort: number }).metricsPort;
      await consumer.consuming(START_TIMEOUT_MS);

      const { events, homes } = fraudStream(12, 6, 20, `${h.run}-cli-metrics`);
      await h.loadHomes(homes);
      await h.kafka.produce(topics.in, eventMessages(events));
      const n = events.length;
      await waitFor(
        "the endpoint counts every event",
        async () => (await readMetric(port, "sluice_consumer_events_total")) === n,
      );
      await waitFor(
        "no lag",
        async () => (await readMetric(port, "sluice_consumer_lag", { pipeline: "fraud" })) === 0,
      );
      const samples = await readMetrics(port);
      assert.equal(sumSamples(samples, "sluice_consumer_predictions_total"), n);
      assert.ok(
        samples.some((x) => x.name === "sluice_process_process_resident_memory_bytes"),
        "process metrics",
      );

      const top = h.cli([
        "top",
        "--once",
        "--interval",
        "300",
        "--consumer",
        `127.0.0.1:${port}`,
        "--sidecar",
        `http://127.0.0.1:${h.sidecar.metricsPort}/metrics`,
      ]);
      const { code } = await top.exited;
      const out = top.stdout();
      assert.equal(code, 0, `${out}\n${top.lines.join("\n")}`);
      assert.match(out, /^sluice top {2}\d\d:\d\d:\d\d UTC {2}window 0\.\d s$/m);
      assert.match(out, /^pipeline fraud {2}1 consumer {2}3 partitions {2}model fraud v1 /m);
      assert.match(out, new RegExp(`\\(totals: ${n} in, ${n} predictions\\)`));
      assert.match(out, /^ {2}lag {10}0\b/m);
      assert.match(out, /^ {2}throughput {3}in 0\.0\/s {2}predictions 0\.0\/s/m);
      assert.match(out, /^sidecar model fraud {2}ready v1/m);
      assert.match(out, /^ {2}v1 {2}rows 0\.0\/s {2}batch mean/m);
      // Unreachable endpoints: clients/cli/src/commands/top.test.ts.
    },
  );
});
