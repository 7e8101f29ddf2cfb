/**
 * The consumer's live status page in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser is downloaded) against `sluice consume` on the real stack: the local
 * Kafka and Redis, a sidecar on port 0, fresh topics and group, a rollout of two arms with a
 * shadow. What a user relies on: the page opens offline (its script and uPlot come from the
 * consumer), shows live throughput while events flow, then the same totals, weights and arm
 * predictions as /metrics, and renders label values (here a hostile segment value) as text.
 *
 * Without Chromium the suite is skipped, unless SLUICE_E2E_BROWSER is set (CI sets it): then it
 * fails, saying how to install it.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { chromium, type Page } from "playwright-core";
import { sumSamples } from "@sluice/kit";
import {
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
        },
      });
      const file = await h.writeConfig(await fraudDocument(settings));
      const consumer = h.cli(["consume", "--config", file, "--metrics-port", "0"]);
      const line = await consumer.line(/status page at http:/, START_TIMEOUT_MS);
      const port = (JSON.parse(line) as { metricsPort: number }).metricsPort;
      await consumer.line(/pipeline \\"fraud\\" consuming/, START_TIMEOUT_MS);

      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox"],
      });
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

        // No drift monitor or label topic in this pipeline: the page says so.
        for (const heading of ["Drift", "Evaluation (late labels)"]) {
          const section = page.locator(`h3:text-is("${heading}") + p.nodata`);
          assert.match((await section.textContent()) ?? "", /^no data yet/, heading);
        }
        assert.ok((await page.locator(".uplot canvas").count()) >= 6, "the charts are drawn");
        assert.deepEqual(problems, [], "no script error, no refused resource");
        assert.deepEqual(elsewhere, [], "nothing asked of another host");
      } finally {
        await browser.close();
      }
    },
  );
});
