/**
 * `sluice backtest`: proves a candidate model version on the input topic's history before it
 * serves. The events of a range (offsets, times, or a duration ago) go through the pipeline's own
 * feature stages and the sidecar, scored by the candidate and, with --against, by the version it
 * would replace, joined to a label topic when there is one; the report says what each version
 * scored, how well (precision, recall, ROC AUC, log loss against the labels), how often the two
 * agree and how far their scores drift apart. Nothing live is touched: no output is produced, no
 * group joined or committed, and the feature state lives under a key prefix of its own, deleted at
 * the end.
 */
import { InvalidArgumentError, type Command } from "commander";
import { parseProbability, positiveDuration } from "../flags/parsers.js";
import {
  ConsumerError,
  DEFAULT_THRESHOLD,
  backtestPipeline,
  parseRangeBound,
  withSecurityReason,
  type BacktestProgress,
  type BacktestRun,
  type RangeBound,
  type VersionReport,
} from "@sluice/consumer";
import { UsageError, runAction } from "../output/exit.js";
import { addHelp } from "../output/help.js";
import { print, printJson } from "../output/print.js";
import { formatTable } from "../output/table.js";
import { addPipelineOptions, loadConfig, type PipelineFlags } from "./consume.js";

interface BacktestFlags extends PipelineFlags {
  model?: string;
  version: string;
  against?: string;
  from: RangeBound;
  to: RangeBound;
  labelsTopic?: string;
  warmUp?: number;
  threshold?: number;
  json?: boolean;
}

/** Without a terminal, a progress line this often: enough to see it move in a CI log. */
const PROGRESS_LINE_EVERY_MS = 5_000;
/** The bar's width in characters. */
const BAR_WIDTH = 30;

function bound(value: string): RangeBound {
  try {
    return parseRangeBound(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function version(value: string): string {
  if (!/^(?:\d+|[A-Za-z][A-Za-z0-9._-]*)$/.test(value)) {
    throw new InvalidArgumentError(
      `expected a version number (e.g. 2) or label (e.g. canary), got "${value}"`,
    );
  }
  return value;
}

/** A number for the text report; "-" for NaN (nothing to compute it from). */
function fixed(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

function percent(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(1)} %` : "-";
}

function versionName(report: VersionReport): string {
  const answered = report.answered.join("+") || report.requested;
  const name = answered === report.requested ? answered : `${report.requested} (${answered})`;
  return `${name} ${report.role}`;
}

/** The text report. */
export function describeBacktest(run: BacktestRun): string {
  const lines = [
    `backtest of pipeline ${run.pipeline} (model ${run.model}) on ${run.topic}, ${run.from} → ${run.to}`,
    `  partitions: ${run.partitions.map((p) => `[${p.partition}] ${p.from}..${p.to}`).join(", ")}`,
    ...(run.warmUp === undefined
      ? []
      : [
          `  warm-up: ${run.warmUp.records} records through the features first, from ${run.warmUp.partitions.map((p) => `[${p.partition}] ${p.from}`).join(", ")}`,
        ]),
    `read ${run.read} records in ${run.seconds.toFixed(1)} s (${run.eventsPerSecond.toFixed(0)} events/s): ${run.predictions} scored, ${run.deadLetters} dead-lettered${run.complete ? "" : " (interrupted before the end of the range)"}`,
  ];
  for (const [code, { count, example }] of Object.entries(run.deadLettersByCode)) {
    lines.push(`  ${code}: ${count} (first: ${example})`);
  }
  if (run.labels !== undefined) {
    const { labels } = run;
    lines.push(
      `labels: ${labels.ids} ids from ${labels.read} records of ${labels.topic}${labels.invalid === 0 ? "" : ` (${labels.invalid} not labels, first: ${labels.invalidExample})`}; ${run.labelled} scored events labelled`,
    );
  }
  const withLabels = run.versions.some((v) => v.evaluation !== undefined);
  const headers = ["VERSION", "SCORED", "FAILED", "MEAN", "P10", "P50", "P90", "P99", "FLAGGED"];
  if (withLabels) headers.push("PRECISION", "RECALL", "ROC AUC", "LOG LOSS", "BRIER");
  const rows = run.versions.map((v) => {
    const s = v.scores;
    const row = [
      versionName(v),
      String(v.scored),
      String(v.failed),
      fixed(s.mean),
      fixed(s.p10),
      fixed(s.p50),
      fixed(s.p90),
      fixed(s.p99),
      percent(s.flagged),
    ];
    if (withLabels) {
      const e = v.evaluation;
      row.push(
        ...(e === undefined
          ? ["-", "-", "-", "-", "-"]
          : [
              fixed(e.precision),
              fixed(e.recall),
              fixed(e.rocAuc),
              fixed(e.logLoss),
              fixed(e.brier),
            ]),
      );
    }
    return row;
  });
  lines.push("", formatTable(headers, rows));
  const c = run.comparison;
  if (c !== undefined) {
    const [candidate, against] = run.versions;
    lines.push(
      "",
      `${candidate?.requested} against ${against?.requested}: ${c.compared} events scored by both; same decision at ${run.threshold} for ${percent(c.agreement)}, mean |score difference| ${fixed(c.meanAbsDifference, 4)}; score drift PSI ${fixed(c.psi)}, KS ${fixed(c.ks)}`,
    );
  }
  return lines.join("\n");
}

/** Progress on stderr: a bar redrawn in place on a terminal, a line every few seconds otherwise. */
function progressReporter(): { update: (p: BacktestProgress) => void; end: () => void } {
  const interactive = process.stderr.isTTY;
  let lastLine = 0;
  let drawn = false;
  const text = (p: BacktestProgress) => {
    const share = p.total === 0 ? 1 : Math.min(p.done / p.total, 1);
    const rate = p.elapsedMs > 0 ? (p.read / p.elapsedMs) * 1000 : 0;
    return `${(share * 100).toFixed(0).padStart(3)} % ${p.read} read, ${p.predictions} scored, ${p.deadLetters} dead-lettered, ${rate.toFixed(0)} events/s`;
  };
  return {
    update(p) {
      if (interactive) {
        const share = p.total === 0 ? 1 : Math.min(p.done / p.total, 1);
        const filled = Math.round(share * BAR_WIDTH);
        process.stderr.write(
          // \x1b[K clears what a longer line before left on the right.
          `\r[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${text(p)}\x1b[K`,
        );
        drawn = true;
      } else if (p.elapsedMs - lastLine >= PROGRESS_LINE_EVERY_MS || p.done >= p.total) {
        lastLine = p.elapsedMs;
        process.stderr.write(`backtest: ${text(p)}\n`);
      }
    },
    end() {
      if (drawn) process.stderr.write("\n");
    },
  };
}

export function registerBacktest(program: Command): void {
  const command = program
    .command("backtest")
    .description(
      "replay the input topic's history through the pipeline's features and a candidate model version: scores, agreement with another version, evaluation against labels",
    );
  addPipelineOptions(command, true)
    .option("--model <name>", "the model, instead of the file's model.name (same features)")
    .requiredOption("--version <version>", "the candidate: a version number or label", version)
    .option("--against <version>", "compare with this version (e.g. the one serving now)", version)
    .option(
      "--from <where>",
      "first event: an offset (on every partition), an ISO 8601 time, a duration ago (1h), earliest",
      bound,
      { kind: "earliest" } satisfies RangeBound,
    )
    .option(
      "--to <where>",
      "end, exclusive: an offset, an ISO 8601 time, a duration ago, or end (where each partition ends when the backtest starts)",
      bound,
      { kind: "end" } satisfies RangeBound,
    )
    .option(
      "--warm-up <duration>",
      "feed the features this much history before --from (a time) first, unscored, so the windows start full (e.g. 24h)",
      positiveDuration('"24h" or "7d"'),
    )
    .option(
      "--labels-topic <topic>",
      'labels {"id": …, "label": 0|1, "labelled_at": …}, joined to the events by id (default: the file\'s monitoring.labels.topic)',
    )
    .option(
      "--threshold <p>",
      `a score at or above it is a positive decision (default: the file's monitoring.evaluation threshold for the version, else ${DEFAULT_THRESHOLD})`,
      parseProbability,
    )
    .option("--json", "print the report as JSON on stdout");
  addHelp(command, {
    notes: `The events go through the pipeline file's features and micro-batches (batch.max_events) and the
sidecar (model.sidecar or --sidecar), as \`sluice consume\` would score them; the records it would
write are counted, not sent. Live state is never touched: the topic is read by partition with no
consumer group (nothing joined, nothing committed), and the stateful windows start empty at --from
(or --warm-up before it), under a Redis key prefix of their own (<redis.key_prefix>backtest:<run
id>:), deleted at the end.
--to is exclusive, and where a partition ends when the backtest starts is as far as it reads: it
ends by itself on a busy or an idle topic. With --labels-topic the label topic is read whole first
(labels come late). Progress goes to stderr: a bar on a terminal, a line every 5 s otherwise.
Exit status: 0 done, 1 failed (Kafka, Redis or the sidecar unreachable, a version the sidecar does
not serve, interrupted), 2 invalid pipeline file or flags (a --model or --version whose input does
not fit the file's features included).`,
    examples: [
      "sluice backtest --config examples/pipelines/fraud.yaml --version 2 --against 1",
      "sluice backtest --config examples/pipelines/fraud.yaml --model fraud --version canary --against stable --from 1h --to end --json",
      "sluice backtest --config examples/pipelines/fraud.yaml --version 2 --from 10m --warm-up 24h",
    ],
  });
  command.action((flags: BacktestFlags, self: Command) =>
    runAction(self, async () => {
      const loaded = await loadConfig(flags);
      const config =
        flags.model === undefined
          ? loaded
          : { ...loaded, model: { ...loaded.model, name: flags.model } };
      if (flags.from.kind === "end") throw new UsageError("--from end: the range would be empty");
      if (flags.warmUp !== undefined && flags.from.kind !== "time") {
        throw new UsageError(
          "--warm-up: give --from as a time (an ISO 8601 time or a duration ago) to warm up before",
        );
      }
      // What the pipeline file's monitoring says, unless the flags say otherwise.
      const evaluation = config.monitoring?.evaluation;
      const labelsTopic = flags.labelsTopic ?? config.monitoring?.labels?.topic;
      const threshold =
        flags.threshold ??
        evaluation?.thresholds[flags.version] ??
        evaluation?.threshold ??
        DEFAULT_THRESHOLD;
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const progress = progressReporter();
      let run: BacktestRun;
      try {
        run = await backtestPipeline(config, {
          version: flags.version,
          ...(flags.against === undefined ? {} : { against: flags.against }),
          from: flags.from,
          to: flags.to,
          ...(flags.warmUp === undefined ? {} : { warmUpMs: flags.warmUp }),
          ...(labelsTopic === undefined ? {} : { labelsTopic }),
          threshold,
          signal: abort.signal,
          onProgress: progress.update,
        }).catch((error: unknown) => {
          // A model whose input does not fit the file's features: the command line's fault, as
          // for `sluice consume`.
          if (ConsumerError.is(error, "config_invalid")) {
            throw new UsageError(`${flags.config}: ${error.message}`);
          }
          // A refused password or an untrusted certificate, said as such.
          throw withSecurityReason(error);
        });
      } finally {
        progress.end();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      if (flags.json === true) printJson(self, run);
      else print(self, describeBacktest(run));
      if (!run.complete) throw new Error("backtest: interrupted before the end of the range");
    }),
  );
}
