/**
 * `sluice verify`: what came out of a pipeline, read as a downstream consumer would (fresh group,
 * from the beginning, read_committed): counts, missing and duplicate ids, dead letters by code,
 * and end-to-end latency percentiles.
 */
import { InvalidArgumentError, type Command } from "commander";
import { verifyPipeline, type LatencySummary, type VerifyReport } from "@sluice/demo";
import { withSecurityReason } from "@sluice/consumer";
import { runAction } from "../output/exit.js";
import { print, printJson } from "../output/print.js";
import { formatTable } from "../output/table.js";
import { addPipelineOptions, loadConfig, loadSecurity, type PipelineFlags } from "./consume.js";

interface VerifyFlags extends PipelineFlags {
  expect?: number;
  timeout: number;
  json?: boolean;
}

/** Reading three topics to their ends takes a second or two; a minute covers a busy broker. */
const DEFAULT_TIMEOUT_S = 60;
/** Missing ids shown in the text report; --json has them all. */
const SHOWN_IDS = 20;

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  }
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive number of seconds, got "${value}"`);
  }
  return n;
}

function latency(summary: LatencySummary | undefined): string[] {
  if (summary === undefined) return ["-", "-", "-", "-", "0"];
  return [summary.p50, summary.p90, summary.p99, summary.max]
    .map((ms) => `${ms} ms`)
    .concat(String(summary.count));
}

function describe(report: VerifyReport, exactlyOnce: boolean): string {
  const lines = [
    `inputs: ${report.inputs}, predictions: ${report.predictions} (${report.predicted} distinct inputs), dead letters: ${report.deadLetters}, for review: ${report.reviews}`,
  ];
  const codes = Object.entries(report.deadLettersByCode);
  if (codes.length > 0)
    lines.push(`dead letters by code: ${codes.map(([c, n]) => `${c} ${n}`).join(", ")}`);
  lines.push(
    `missing: ${report.missing.length}${report.missing.length === 0 ? "" : ` (${report.missing.slice(0, SHOWN_IDS).join(", ")}${report.missing.length > SHOWN_IDS ? ", …" : ""})`}`,
  );
  const duplicates = Object.entries(report.duplicates);
  lines.push(
    `duplicates: ${duplicates.length}${exactlyOnce || duplicates.length === 0 ? "" : " (allowed: at-least-once replays after a crash)"}`,
  );
  lines.push(
    "",
    formatTable(
      ["LATENCY", "P50", "P90", "P99", "MAX", "N"],
      [
        ["event time → prediction", ...latency(report.eventToPrediction)],
        ["input produced → prediction", ...latency(report.produceToPrediction)],
      ],
    ),
  );
  if (!report.complete)
    lines.push("", "incomplete: the time ran out before the topics were read to their ends");
  return lines.join("\n");
}

export function registerVerify(program: Command): void {
  const command = program
    .command("verify")
    .description(
      "account for every input event of a pipeline: predicted, dead-lettered, missing or duplicated",
    );
  addPipelineOptions(command)
    .option("--expect <n>", "wait until this many input events are accounted for", count)
    .option("--timeout <s>", "most to wait, in seconds", seconds, DEFAULT_TIMEOUT_S)
    .option("--json", "print the whole report as JSON")
    .addHelpText(
      "after",
      `
Exit status: 0 every input accounted for (and --expect reached; no duplicates for an exactly_once
pipeline), 1 otherwise, 2 invalid pipeline file or flags.
Examples:
  $ sluice verify --config examples/pipelines/fraud.yaml
  $ sluice verify --config examples/pipelines/fraud.yaml --expect 6000 --timeout 120`,
    );
  command.action((flags: VerifyFlags, self: Command) =>
    runAction(self, async () => {
      const config = await loadConfig(flags);
      const report = await verifyPipeline({
        brokers: config.kafka.brokers,
        security: await loadSecurity(config, flags.config),
        input: config.topics.input,
        output: config.topics.output,
        deadLetter: config.topics.deadLetter,
        review: config.topics.review,
        timeoutMs: flags.timeout * 1000,
        ...(flags.expect === undefined ? {} : { expect: flags.expect }),
      }).catch((error: unknown) => {
        // A refused password or an untrusted certificate, said as such.
        throw withSecurityReason(error);
      });
      const exactlyOnce = config.delivery === "exactly_once";
      if (flags.json === true) printJson(self, report);
      else print(self, describe(report, exactlyOnce));
      const problems: string[] = [];
      if (!report.complete) problems.push("the topics were not read to their ends in time");
      if (report.missing.length > 0) problems.push(`${report.missing.length} input events missing`);
      if (flags.expect !== undefined && report.predicted + report.deadLetters < flags.expect) {
        problems.push(
          `expected ${flags.expect} events accounted for, got ${report.predicted + report.deadLetters}`,
        );
      }
      if (exactlyOnce && Object.keys(report.duplicates).length > 0) {
        problems.push(
          `${Object.keys(report.duplicates).length} ids predicted more than once (exactly_once)`,
        );
      }
      if (problems.length > 0) throw new Error(`verify: ${problems.join("; ")}`);
    }),
  );
}
