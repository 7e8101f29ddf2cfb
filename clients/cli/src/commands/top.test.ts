import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sluice as runCli } from "../test-kit.js";

/** Serves `pages` in turn at /metrics (the last one from then on). */
async function metricsServer(pages: readonly string[]): Promise<{ url: string; server: Server }> {
  let served = 0;
  const server = createServer((request, response) => {
    if (request.url !== "/metrics") return void response.writeHead(404).end();
    const page = pages[Math.min(served++, pages.length - 1)]!;
    response.writeHead(200, { "content-type": "text/plain" }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const consumerPage = (events: number, latencyCounts: [number, number], lag: number) => `
sluice_consumer_events_total{pipeline="fraud",topic="tx"} ${events}
sluice_consumer_predictions_total{pipeline="fraud",model="fraud",version="2"} ${events - 1}
sluice_consumer_records_produced_total{pipeline="fraud",topic="predictions"} ${events - 1}
sluice_consumer_dead_letters_total{pipeline="fraud",code="decode_error"} 1
sluice_consumer_retries_total{pipeline="fraud",code="inference_unavailable"} 3
sluice_consumer_reviews_total{pipeline="fraud",model="fraud",version="2"} 4
sluice_consumer_rebalances_total{pipeline="fraud"} 1
sluice_consumer_assigned_partitions{pipeline="fraud",topic="tx"} 2
sluice_consumer_model_info{pipeline="fraud",model="fraud",version="2"} 1
sluice_consumer_lag{pipeline="fraud",topic="tx",partition="0"} ${lag}
sluice_consumer_lag{pipeline="fraud",topic="tx",partition="1"} 7
sluice_consumer_end_to_end_latency_seconds_bucket{le="0.01",pipeline="fraud"} ${latencyCounts[0]}
sluice_consumer_end_to_end_latency_seconds_bucket{le="0.1",pipeline="fraud"} ${latencyCounts[1]}
sluice_consumer_end_to_end_latency_seconds_bucket{le="+Inf",pipeline="fraud"} ${latencyCounts[1]}
sluice_consumer_micro_batch_size_bucket{le="16",pipeline="fraud"} ${events / 10}
sluice_consumer_micro_batch_size_bucket{le="+Inf",pipeline="fraud"} ${events / 10}
sluice_consumer_micro_batch_size_sum{pipeline="fraud"} ${events}
sluice_consumer_micro_batch_size_count{pipeline="fraud"} ${events / 10}
`;

const sidecarPage = (rows: number) => `
sluice_inference_rows_total{model="fraud",version="2"} ${rows}
sluice_inference_executions_total{model="fraud",version="2"} ${rows / 8}
sluice_inference_pending_requests{model="fraud",version="2"} 0
sluice_model_ready{model="fraud",version="2"} 1
`;

describe("sluice top", () => {
  let consumer: { url: string; server: Server };
  let sidecar: { url: string; server: Server };
  before(async () => {
    consumer = await metricsServer([
      consumerPage(100, [0, 0], 50),
      consumerPage(300, [100, 200], 20),
    ]);
    sidecar = await metricsServer([sidecarPage(800), sidecarPage(1600)]);
  });
  after(() => {
    consumer.server.close();
    sidecar.server.close();
  });

  it("--once shows rates and percentiles over one interval", async () => {
    const { code, out, err } = await runCli(
      "top",
      "--once",
      "--interval",
      "200",
      "--partitions",
      "1",
      "--consumer",
      consumer.url,
      "--sidecar",
      `http://${sidecar.url}`,
    );
    assert.equal(code, 0, err);
    const lines = out.split("\n");
    const line = (prefix: string) => lines.find((l) => l.startsWith(prefix)) ?? out;
    assert.match(
      line("pipeline fraud"),
      /1 consumer {2}2 partitions {2}model fraud v2 {2}rebalances 1/,
    );
    // 200 events and 200 predictions in about 0.2 s; the exact rate depends on the timer.
    assert.match(line("  throughput"), /in \d{3,4}\/s {2}predictions \d{3,4}\/s/);
    assert.match(line("  lag"), /^ {2}lag {10}27 {2}\(tx\[0\] 20\)$/);
    assert.match(line("  end-to-end"), /p50 10\.0 ms {2}p95 91\.0 ms {2}p99 98\.2 ms/);
    assert.match(line("  micro-batch"), /mean 10\.0 events {2}p95 15 /);
    assert.match(
      line("  outcomes"),
      /reviews 4 {2}dead letters 1 \(decode_error 1\) {2}retries 3 \(inference_unavailable 3\)/,
    );
    assert.match(line("sidecar model fraud"), /ready v2/);
    assert.match(line("  v2"), /batch mean 8\.0 rows/);
  });

  it("says which endpoints did not answer, and fails --once when none did", async () => {
    const { code, out } = await runCli(
      "top",
      "--once",
      "--interval",
      "100",
      "--consumer",
      "127.0.0.1:1",
      "--sidecar",
      "127.0.0.1:1/other",
    );
    assert.equal(code, 1);
    assert.match(out, /^http:\/\/127\.0\.0\.1:1\/metrics: unreachable \(.+\)$/m);
    assert.match(out, /^http:\/\/127\.0\.0\.1:1\/other: unreachable/m);
  });

  it("refuses an interval below 100 ms", async () => {
    const { code, err } = await runCli("top", "--interval", "5");
    assert.equal(code, 2, "a usage error, as the command line exits on it");
    assert.match(err, /--interval: expected an integer from 100 to 3600000, got "5"/);
  });
});
