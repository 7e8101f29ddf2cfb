/**
 * `sluice produce`: synthetic fraud transactions into a pipeline's input topic, at a steady rate,
 * for a count or a duration. Users have home countries (written to the pipeline's Redis, where
 * its lookup reads them) and habits; a small share of account takeovers bursts.
 */
import { InvalidArgumentError, type Command } from "commander";
import { parseProbability } from "../flags/parsers.js";
import {
  DEFAULT_FRAUD_RATIO,
  DEFAULT_LABEL_DELAY_MS,
  DEFAULT_USERS,
  produceSyntheticEvents,
} from "@sluice/demo";
import { withSecurityReason } from "@sluice/consumer";
import { startTelemetry } from "../telemetry.js";
import { UsageError, runAction } from "../output/exit.js";
import { print } from "../output/print.js";
import { addPipelineOptions, loadConfig, loadSecurity, type PipelineFlags } from "./consume.js";

interface ProduceFlags extends PipelineFlags {
  rate: number;
  count?: number;
  duration?: number;
  malformedRatio: number;
  fraudRatio: number;
  users: number;
  seed?: number;
  driftAt?: DriftAt;
  labelsTopic?: string;
  labelDelay?: number;
}

type DriftAt = { readonly seconds: number } | { readonly share: number };

/**
 * `--drift-at`: seconds after the start (`20`, `20s`), or a share of the run (`50%`, or a
 * fraction below 1 such as `0.5`).
 */
export function parseDriftAt(value: string): DriftAt {
  const text = value.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent !== null && Number(percent[1]) <= 100) return { share: Number(percent[1]) / 100 };
  const seconds = /^(\d+(?:\.\d+)?)s?$/.exec(text);
  if (seconds !== null) {
    const n = Number(seconds[1]);
    return n < 1 && !text.endsWith("s") ? { share: n } : { seconds: n };
  }
  throw new InvalidArgumentError(
    `expected seconds after the start (like 20 or 20s) or a share of the run (like 50% or 0.5), got "${value}"`,
  );
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`expected a number of seconds (0 or more), got "${value}"`);
  }
  return n;
}

function positive(flag: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(
        `expected a positive ${integer ? "integer" : "number"}, got "${value}"`,
      );
    }
    return n;
  };
}

export function registerProduce(program: Command): void {
  const command = program
    .command("produce")
    .description("send synthetic fraud transactions to a pipeline's input topic, keyed by user id");
  addPipelineOptions(command)
    .requiredOption("--rate <n>", "events per second", positive("--rate", false))
    .option("--count <n>", "stop after this many events", positive("--count", true))
    .option("--duration <s>", "stop after this many seconds", positive("--duration", false))
    .option(
      "--malformed-ratio <r>",
      "share of malformed records (for the dead-letter path)",
      parseProbability,
      0,
    )
    .option(
      "--fraud-ratio <r>",
      "share of events in fraud bursts",
      parseProbability,
      DEFAULT_FRAUD_RATIO,
    )
    .option("--users <n>", "simulated users", positive("--users", true), DEFAULT_USERS)
    .option("--seed <n>", "seed, to repeat a run's users and events", positive("--seed", true))
    .option(
      "--drift-at <when>",
      "shift the distribution (larger, mostly online payments) from this many seconds (20, 20s) or this share of the run (50%, 0.5)",
      parseDriftAt,
    )
    .option(
      "--labels-topic <topic>",
      "send each event's true label (1 for fraud bursts) here, late (default: the pipeline's monitoring.labels.topic, when --label-delay is given)",
    )
    .option(
      "--label-delay <s>",
      `seconds from an event to its label (default ${DEFAULT_LABEL_DELAY_MS / 1000})`,
      seconds,
    )
    .addHelpText(
      "after",
      `
Event times are the wall clock, so \`sluice verify\` can measure end-to-end latency. A progress
line goes to stderr each second; the last line on stdout is the run's summary.
Examples:
  $ sluice produce --config examples/pipelines/fraud.yaml --rate 200 --duration 5
  $ sluice produce --config examples/pipelines/fraud.yaml --rate 1000 --count 5000 --malformed-ratio 0.01
--drift-at 50% shifts the second half of a run (larger, mostly online payments) for the drift
monitor to notice. With --label-delay (and a pipeline file with monitoring.labels, or --labels-topic), each event's
true label follows it on the label topic that many seconds later (docs/monitoring.md).`,
    );
  command.action((flags: ProduceFlags, self: Command) =>
    runAction(self, async () => {
      if (flags.count === undefined && flags.duration === undefined) {
        throw new UsageError("give --count or --duration (or both): produce must stop");
      }
      const config = await loadConfig(flags);
      const security = await loadSecurity(config, flags.config);
      // Labels go where the pipeline reads them, unless told otherwise.
      const labelsTopic =
        flags.labelsTopic ??
        (flags.labelDelay === undefined ? undefined : config.monitoring?.labels?.topic);
      if (flags.labelDelay !== undefined && labelsTopic === undefined) {
        throw new UsageError(
          "--label-delay: give --labels-topic, or a pipeline file with monitoring.labels.topic",
        );
      }
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const interactive = process.stderr.isTTY;
      const telemetry = await startTelemetry("sluice-loadgen");
      try {
        const report = await produceSyntheticEvents({
          brokers: config.kafka.brokers,
          security,
          topic: config.topics.input,
          redisUrl: config.redis.url,
          rate: flags.rate,
          count: flags.count,
          durationMs: flags.duration === undefined ? undefined : flags.duration * 1000,
          malformedRatio: flags.malformedRatio,
          fraudRatio: flags.fraudRatio,
          users: flags.users,
          seed: flags.seed ?? Math.floor(Math.random() * 2 ** 31),
          ...(flags.driftAt === undefined ? {} : { driftAt: flags.driftAt }),
          ...(labelsTopic === undefined ? {} : { labelsTopic }),
          ...(flags.labelDelay === undefined ? {} : { labelDelayMs: flags.labelDelay * 1000 }),
          signal: abort.signal,
          progress: (r) => {
            const extra = `${r.drifted > 0 ? `, ${r.drifted} drifted` : ""}${labelsTopic === undefined ? "" : `, ${r.labels} labels`}`;
            const line = `produced ${r.produced}${flags.count === undefined ? "" : `/${flags.count}`} (${r.rate.toFixed(0)}/s, ${r.fraud} fraud, ${r.malformed} malformed${extra}) in ${(r.elapsedMs / 1000).toFixed(1)} s`;
            process.stderr.write(interactive ? `\r${line}` : `${line}\n`);
          },
        }).catch((error: unknown) => {
          // A refused password or an untrusted certificate, said as such.
          throw withSecurityReason(error);
        });
        if (interactive) process.stderr.write("\n");
        print(
          self,
          `run ${report.runId}: produced ${report.produced} records to ${config.topics.input} (${report.fraud} fraud, ${report.malformed} malformed${flags.driftAt === undefined ? "" : `, ${report.drifted} drifted`})${labelsTopic === undefined ? "" : `; ${report.labels} labels to ${labelsTopic}`}`,
        );
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        // Exports the events' send spans before the process exits.
        await telemetry.shutdown();
      }
    }),
  );
}
