/**
 * The consumer's live status page in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser is downloaded) against `sluice consume` on the real stack: the local
 * Kafka and Redis, a sidecar on port 0, fresh topics and group, a rollout of two arms with a
 * shadow and drift monitoring against each version's reference.json. What a user relies on: the
 * page opens offline (its script and uPlot come from the consumer), shows live throughput while
 * events flow, then the same totals, weights, arm predictions and drift per feature as /metrics,
 * and renders label values (here a hostile segment value) as text.
 *
 * A second case renders the drift and evaluation sections from series set by hand on a consumer's
 * registry in this process, for what a short run cannot show: bands over time, a hostile feature
 * name, and evaluated figures (which need a label topic and late labels).
 *
 * Without Chromium the suite is skipped, unless SLUICE_E2E_BROWSER is set (CI sets it): then it
 * fails, saying how to install it.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { ConsumerMetrics, MonitoringMetrics, type DriftState } from "@sluice/consumer";
import { sumSamples } from "@sluice/kit";
import {
  driftReport,
  driftSubject,
  evaluationFigures,
  EXAMPLE_MODELS,
  fraudDocument,
  fraudStream,
  pipelineHarness,
  readMetric,
  readMetrics,
  waitFor,
} from "@sluice/testing";

const CHROMIUM = "/usr/bin/chromium";
const INSTALL = `install Debian's chromium (apt-get install -y chromium)`;
const required = Boolean(process.env["SLUICE_E2E_BROWSER"]);
const skip =
  !existsSync(CHROMIUM) && !required
    ? `no Chromium at ${CHROMIUM}: ${INSTALL} (set SLUICE_E2E_BROWSER=1 to fail instead of skipping)`
    : false;

/** A cold `node --import tsx` of the CLI, loading the model, joining the group. */
const START_TIMEOUT_MS = 60_000;
/** A few of the page's 2 s refreshes on a loaded machine. */
const PAGE_TIMEOUT_MS = 30_000;
/** A segment value that would run script if the page wrote label values as markup. */
const HOSTILE = `<img src=x onerror="window.__injected=1">`;

function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

/** The number a tile shows (`1,234` → 1234; `–` → NaN). */
async function figure(page: Page, name: string): Promise<number> {
  const text = await page.locator(`[data-figure="${name}"] .value`).textContent();
  return Number((text ?? "").replaceAll(",", ""));
}

describe("the status page in Chromium", { skip, timeout: 5 * 60_000 }, () => {
  const h = pipelineHarness();

  it(
    "shows live throughput, then the totals, weights and arm predictions of /metrics",
    { timeout: 4 * 60_000 },
    async () => {
      assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: ${INSTALL}`);
      const { topics, settings } = await h.setup(3, {
        maxEvents: 16,
        patch: {
          model: {
            sidecar: `127.0.0.1:${h.sidecar.grpcPort}`,
            name: "fraud",
            input: "features",
            deadline_ms: 5_000,
          },
          rollout: {
            arms: [
              { name: "stable", version: "stable", weight: 70 },
              { name: "canary", version: 2, weight: 30 },
            ],
            segments: { field: "channel", weights: { [HOSTILE]: { stable: 0, canary: 100 } } },
            shadow: { version: 2, share: 100, deadline_ms: 5_000 },
          },
          monitoring: {
            drift: {
              reference: "file",
              model_repository: EXAMPLE_MODELS,
              window: { events: 1_000 },
              min_events: 200,
            },
          },
        },
      });
      const file = await h.writeConfig(await fraudDocument(settings));
      const consumer = h.cli(["consume", "--config", file, "--metrics-port", "0"]);
      const line = await consumer.line(/status page at http:/, START_TIMEOUT_MS);
      const port = (JSON.parse(line) as { metricsPort: number }).metricsPort;
      await consumer.consuming(START_TIMEOUT_MS);

      const browser = await launch();
      try {
        const page = await browser.newPage();
        // Only the consumer may be asked for anything: the page must work offline.
        const elsewhere: string[] = [];
        await page.route(
          (url) => url.host !== `127.0.0.1:${port}`,
          (route) => {
            elsewhere.push(route.request().url());
            return route.abort();
          },
        );
        const problems: string[] = [];
        page.on("pageerror", (error) => problems.push(error.message));
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(message.text());
        });
        await page.goto(`http://127.0.0.1:${port}/`);
        await page.locator('[data-pipeline="fraud"]').waitFor({ timeout: PAGE_TIMEOUT_MS });

        const { events, homes } = fraudStream(21, 150, 4, `${h.run}-status`);
        await h.loadHomes(homes);
        const producing = h.trickle(topics.in, events, { perTick: 20, pauseMs: 300 });
        await waitFor(
          "the page shows events flowing",
          async () => (await figure(page, "eventsPerSecond")) > 0,
          { timeoutMs: PAGE_TIMEOUT_MS + 60_000 },
        );
        // While they flow: a latency and a throughput chart drawn by uPlot, not "no data yet".
        await waitFor("latency drawn", () => page.locator('[data-chart="latency"] canvas').count());
        assert.equal(await page.locator('[data-chart="throughput"] canvas').count(), 1);
        await producing;

        const n = events.length;
        await waitFor(
          "/metrics counts every event",
          async () => (await readMetric(port, "sluice_consumer_events_total")) === n,
          { timeoutMs: 60_000 },
        );
        await waitFor(
          "the page counts every event",
          async () => (await figure(page, "events")) === n,
          { timeoutMs: PAGE_TIMEOUT_MS },
        );
        const metrics = await readMetrics(port);
        assert.equal(
          await figure(page, "predictions"),
          sumSamples(metrics, "sluice_consumer_predictions_total"),
        );
        assert.equal(
          await figure(page, "deadLetters"),
          sumSamples(metrics, "sluice_consumer_dead_letters_total"),
        );

        // The weights table: one row per segment and arm, each share the gauge's.
        const rows = page.locator('[data-table="weights"] tbody tr');
        assert.equal(await rows.count(), 4);
        for (const row of await rows.all()) {
          const arm = (await row.getAttribute("data-arm"))!;
          const segment = (await row.getAttribute("data-segment"))!;
          const share = Number(await row.locator("[data-share]").getAttribute("data-share"));
          const gauge = sumSamples(metrics, "sluice_consumer_rollout_weight", { arm, segment });
          assert.equal(share, gauge, `${segment} ${arm}`);
        }
        const canaryWeb = page.locator(`[data-table="weights"] tr[data-arm="canary"]`).nth(1);
        assert.equal(await canaryWeb.locator("td").first().textContent(), HOSTILE);
        assert.equal(await page.evaluate(() => "__injected" in globalThis), false);
        assert.equal(await page.locator("main img").count(), 0, "no element from a label value");

        // Predictions by arm, as /metrics counts them; both arms scored.
        for (const arm of ["stable", "canary"]) {
          const counted = sumSamples(metrics, "sluice_consumer_rollout_predictions_total", { arm });
          assert.ok(counted > 0, `${arm} scored nothing`);
          const shown = await page
            .locator(`[data-table="weights"] tr[data-arm="${arm}"][data-segment="_default"] td`)
            .nth(4)
            .textContent();
          assert.equal(Number(shown?.replaceAll(",", "")), counted, arm);
        }
        const shares = await page.locator("[data-share]").allTextContents();
        assert.deepEqual(shares, ["70.0 %", "30.0 %", "0.0 %", "100.0 %"]);

        // The shadow's agreement, as its counters give it.
        const agree = sumSamples(metrics, "sluice_consumer_shadow_predictions_total", {
          agreement: "agree",
        });
        const compared = sumSamples(metrics, "sluice_consumer_shadow_predictions_total");
        assert.ok(compared > 0, "the shadow compared nothing");
        const agreement = await page
          .locator('[data-shadow="2"] [data-agreement]')
          .getAttribute("data-agreement");
        assert.equal(Number(agreement), agree / compared);

        // Drift per feature and version: a row for every PSI series, with its figure.
        let expected: string[] = [];
        await waitFor(
          "the drift table shows every PSI series of /metrics",
          async () => {
            expected = (await readMetrics(port))
              .filter((m) => m.name === "sluice_consumer_drift_psi")
              .map((m) => `${m.labels["subject"]}\t${m.labels["version"]}\t${m.value.toFixed(3)}`)
              .sort();
            const shown = (await page.locator('[data-table="drift"] tbody tr').allInnerTexts())
              .map((row) => row.split("\t").slice(0, 3).join("\t"))
              .sort();
            return expected.length > 0 && JSON.stringify(shown) === JSON.stringify(expected);
          },
          { timeoutMs: PAGE_TIMEOUT_MS },
        );
        assert.ok(
          expected.length >= 21,
          `PSI of the 20 features and the score, got ${expected.length} series`,
        );
        // No label topic in this pipeline: the page says so.
        const evaluationSection = page.locator(`h3:text-is("Evaluation (late labels)") + p.nodata`);
        assert.match((await evaluationSection.textContent()) ?? "", /^no data yet/);
        assert.ok((await page.locator(".uplot canvas").count()) >= 6, "the charts are drawn");
        assert.deepEqual(problems, [], "no script error, no refused resource");
        assert.deepEqual(elsewhere, [], "nothing asked of another host");
      } finally {
        await browser.close();
      }
    },
  );
  it(
    "draws drift per feature and the evaluated metrics per arm, as their gauges say",
    { timeout: 60_000 },
    async () => {
      assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: ${INSTALL}`);
      const metrics = new ConsumerMetrics();
      const pipeline = metrics.forPipeline({
        pipeline: "fraud",
        model: "fraud",
        topics: { input: "tx", output: "out", deadLetter: "dlq", review: undefined },
      });
      // What the drift monitor and the evaluator report, as the pipeline's monitor keeps it; the
      // consumer renders its own series from it at scrape time.
      const monitoring = new MonitoringMetrics();
      pipeline.monitoring = monitoring;
      const hostile = `<b id="injected">amount</b>`;
      const bands: DriftState[] = ["stable", "moderate", "major"];
      const figures = (step: number) => {
        const score = driftSubject("score", 0.02, "stable", {
          ks: { value: 0.081, bound: 0.01 },
          wasserstein: { value: 0.0123, bound: 0.001 },
        });
        monitoring.drift.set(
          "1",
          driftReport(
            [
              driftSubject("amount_log", 0.05 + 0.13 * step, bands[step]!),
              driftSubject(hostile, 0.12, "moderate"),
            ],
            score,
          ),
        );
        for (const [arm, version, auc] of [
          ["stable", "1", 0.91],
          ["canary", "2", 0.88],
        ] as const) {
          monitoring.evaluation.set(
            `${version}\n${arm}`,
            evaluationFigures({
              version,
              arm,
              labels: 1000 + 100 * step,
              precision: 0.8 - 0.01 * step,
              recall: 0.7,
              rocAuc: auc,
              logLoss: 0.21,
              brier: 0.05,
            }),
          );
        }
      };
      figures(0);
      monitoring.driftEvent("1", "moderate");
      monitoring.driftEvent("1", "major");
      const server = await metrics.listen("127.0.0.1", 0, { intervalMs: 200 });
      const browser = await launch();
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on("pageerror", (error) => problems.push(error.message));
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(message.text());
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        figures(1);
        await new Promise((resolve) => setTimeout(resolve, 500));
        figures(2);
        await page.goto(`http://127.0.0.1:${server.port}/`);
        await waitFor(
          "the major band shown",
          async () =>
            (await page.locator('[data-drift="amount_log"] td').nth(3).textContent()) === "major",
          { timeoutMs: PAGE_TIMEOUT_MS },
        );
        const drift = page.locator('[data-table="drift"] tbody tr');
        assert.deepEqual(await drift.allInnerTexts(), [
          "amount_log\t1\t0.310\tmajor",
          `${hostile}\t1\t0.120\tmoderate`,
          "score\t1\t0.020\tstable",
        ]);
        assert.equal(await page.locator("td.band-major").count(), 1);
        assert.equal(await page.locator("#injected").count(), 0, "a subject is text, not markup");
        assert.match((await page.locator("text=drift events:").textContent()) ?? "", /: 2$/);
        assert.deepEqual(await page.locator('[data-table="evaluation"] tbody tr').allInnerTexts(), [
          "stable\t1\t78.0 %\t70.0 %\t0.910\t0.210\t0.050\t1,200",
          "canary\t2\t78.0 %\t70.0 %\t0.880\t0.210\t0.050\t1,200",
        ]);
        for (const chart of ["drift", "evaluation-roc_auc", "evaluation-precision"]) {
          assert.equal(await page.locator(`[data-chart="${chart}"] canvas`).count(), 1, chart);
        }
        // Three subjects over time: the PSI chart's legend names each.
        const legend = await page
          .locator('[data-chart="drift"] .u-legend .u-label')
          .allInnerTexts();
        assert.deepEqual(
          legend.sort(),
          [`${hostile} (v1)`, "amount_log (v1)", "score (v1)"].sort(),
        );
        assert.deepEqual(problems, []);
      } finally {
        await browser.close();
        await server.close();
      }
    },
  );
});
