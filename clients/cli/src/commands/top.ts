/**
 * `sluice top`: a live terminal view of running consumers and sidecars, from their Prometheus
 * endpoints: throughput, lag, end-to-end latency, micro-batch and sidecar batch sizes, model
 * versions, dead letters, reviews and retries. For people at a terminal; dashboards and alerts
 * read the same metrics from Prometheus (docs/metrics.md).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { parsePrometheusText } from "@sluice/kit";
import { MetricsWindow, type Scrape } from "../top/metrics-window.js";
import { topView } from "../top/top-view.js";
import { collect, integer } from "../flags/parsers.js";
import { UsageError, runAction } from "../output/exit.js";
import { print } from "../output/print.js";

/** Where `sluice consume` serves metrics by default (pipeline `metrics.port`). */
const DEFAULT_CONSUMER = "http://127.0.0.1:8003/metrics";
/** Where `sluice serve` serves metrics by default (`--metrics-port`). */
const DEFAULT_SIDECAR = "http://127.0.0.1:8002/metrics";
/** Once a second: fast enough to watch a backlog drain, slow enough that rates are steady. */
const DEFAULT_INTERVAL_MS = 1_000;
const DEFAULT_PARTITIONS = 5;
/**
 * A scrape slower than this shows the endpoint as unreachable instead of freezing the view. Not
 * tied to the interval: a process's first request (connection, lazy loading) can take a few hundred
 * milliseconds on its own.
 */
const SCRAPE_TIMEOUT_MS = 2_000;

interface TopFlags {
  consumer?: string[];
  sidecar?: string[];
  interval: number;
  partitions: number;
  once?: boolean;
}

export function registerTop(program: Command): void {
  program
    .command("top")
    .description("live view of consumers and sidecars from their /metrics endpoints")
    .option(
      "--consumer <url>",
      `a consumer's metrics endpoint; repeat for several (default ${DEFAULT_CONSUMER})`,
      collect,
    )
    .option(
      "--sidecar <url>",
      `a sidecar's metrics endpoint; repeat for several (default ${DEFAULT_SIDECAR})`,
      collect,
    )
    .option(
      "--interval <ms>",
      "refresh period in milliseconds",
      integer("--interval", 100, 3_600_000),
      DEFAULT_INTERVAL_MS,
    )
    .option(
      "--partitions <n>",
      "partitions listed by lag",
      integer("--partitions", 0, 1_000),
      DEFAULT_PARTITIONS,
    )
    .option("--once", "print one snapshot (rates over one interval) and exit")
    .addHelpText(
      "after",
      `
An endpoint may be given as host:port (http://host:port/metrics). Rates and percentiles are over
the last interval, from counter and histogram-bucket increases, as PromQL's rate() and
histogram_quantile() compute them. On a terminal the view is redrawn in place; otherwise each
refresh is appended. Ctrl-C quits.
Exit status: 0 quit, 1 (--once) no endpoint answered, 2 invalid flags.
Examples:
  $ sluice top
  $ sluice top --consumer 127.0.0.1:8003 --consumer 127.0.0.1:8004 --sidecar 127.0.0.1:8002
  $ sluice top --once --interval 2000 --consumer 127.0.0.1:8003 --sidecar 127.0.0.1:8002`,
    )
    .action((flags: TopFlags, self: Command) =>
      runAction(self, async () => {
        const consumers = (flags.consumer ?? [DEFAULT_CONSUMER]).map(endpoint);
        const sidecars = (flags.sidecar ?? [DEFAULT_SIDECAR]).map(endpoint);
        const scrapeAll = async () => ({
          consumers: await Promise.all(consumers.map((url) => scrape(url, SCRAPE_TIMEOUT_MS))),
          sidecars: await Promise.all(sidecars.map((url) => scrape(url, SCRAPE_TIMEOUT_MS))),
        });
        const options = { partitions: flags.partitions };
        type Frame = Awaited<ReturnType<typeof scrapeAll>>;
        const render = (current: Frame, previous?: Frame): string[] => [
          header(current, previous),
          ...unreachable([...current.consumers, ...current.sidecars]),
          ...topView(
            new MetricsWindow(current.consumers, previous?.consumers),
            new MetricsWindow(current.sidecars, previous?.sidecars),
            options,
          ),
        ];

        if (flags.once === true) {
          const first = await scrapeAll();
          await sleep(flags.interval);
          const second = await scrapeAll();
          print(self, render(second, first).join("\n"));
          if ([...second.consumers, ...second.sidecars].every((s) => s.error !== undefined)) {
            throw new Error("no metrics endpoint answered");
          }
          return;
        }

        const live = process.stdout.isTTY && self.configureOutput().writeOut === undefined;
        const stop = new AbortController();
        const quit = (): void => stop.abort();
        process.on("SIGINT", quit);
        process.on("SIGTERM", quit);
        // Hide the cursor and clear the screen; put the cursor back however the loop ends.
        if (live) process.stdout.write("\x1b[?25l\x1b[2J");
        try {
          let previous: Frame | undefined;
          while (!stop.signal.aborted) {
            const current = await scrapeAll();
            const lines = render(current, previous);
            if (live)
              process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join("\n")}\n\x1b[J`);
            else print(self, `${lines.join("\n")}\n`);
            previous = current;
            await sleep(flags.interval, undefined, { signal: stop.signal }).catch(() => {});
          }
        } finally {
          if (live) process.stdout.write("\x1b[?25h");
          process.off("SIGINT", quit);
          process.off("SIGTERM", quit);
        }
      }),
    );
}

/** `host:port` or a URL; a URL without a path gets `/metrics`. */
function endpoint(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(
      `expected a metrics endpoint like "127.0.0.1:8003" or a URL, got "${value}"`,
    );
  }
  if (url.pathname === "/") url.pathname = "/metrics";
  return url.toString();
}

async function scrape(target: string, timeoutMs: number): Promise<Scrape> {
  const at = Date.now();
  try {
    const response = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return { target, at, samples: parsePrometheusText(await response.text()) };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    return { target, at, samples: [], error: reason };
  }
}

function header(
  current: { consumers: readonly Scrape[] },
  previous: { consumers: readonly Scrape[] } | undefined,
): string {
  const at = current.consumers[0]?.at ?? Date.now();
  const window =
    previous === undefined
      ? "totals since start"
      : `window ${((at - (previous.consumers[0]?.at ?? at)) / 1000).toFixed(1)} s`;
  return `sluice top  ${new Date(at).toISOString().slice(11, 19)} UTC  ${window}`;
}

function unreachable(scrapes: readonly Scrape[]): string[] {
  return scrapes
    .filter((s) => s.error !== undefined)
    .map((s) => `${s.target}: unreachable (${s.error})`);
}
