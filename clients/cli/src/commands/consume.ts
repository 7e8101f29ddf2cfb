/**
 * `sluice consume`: runs one pipeline (a YAML file) until SIGTERM/SIGINT: consumes events,
 * computes features, scores them with the sidecar, publishes predictions and dead letters, and
 * commits offsets only after its outputs are safe. On a signal it finishes the micro-batch in
 * hand, commits it, leaves the group and exits 0.
 */
import { Option, type Command } from "commander";
import {
  ConsumerError,
  LOG_LEVELS,
  jsonLinesLog,
  loadPipelineConfig,
  startPipeline,
  type LogLevel,
  type PipelineConfig,
} from "@sluice/consumer";
import { UsageError, runAction } from "./common.js";

/** The flags every pipeline command shares: the file, and the addresses that override its own. */
export interface PipelineFlags {
  config: string;
  brokers?: string;
  redisUrl?: string;
  sidecar?: string;
}

/** How often `consume` logs its counters: often enough to watch, rarely enough to read. */
const STATS_EVERY_MS = 10_000;

/** Adds --config, --brokers, --redis-url (and --sidecar when `sidecar`) to `command`. */
export function addPipelineOptions(command: Command, sidecar = false): Command {
  command
    .requiredOption("--config <file>", "pipeline YAML file (see examples/pipelines/fraud.yaml)")
    .addOption(
      new Option("--brokers <host:port,...>", "Kafka brokers, instead of the file's").env(
        "KAFKA_BROKERS",
      ),
    )
    .addOption(new Option("--redis-url <url>", "Redis, instead of the file's").env("REDIS_URL"));
  if (sidecar) command.option("--sidecar <host:port>", "inference sidecar, instead of the file's");
  return command;
}

/** Reads the pipeline file with the flags' overrides; an invalid file is a usage error (exit 2). */
export async function loadConfig(flags: PipelineFlags): Promise<PipelineConfig> {
  try {
    return await loadPipelineConfig(flags.config, {
      brokers: flags.brokers,
      redisUrl: flags.redisUrl,
      sidecar: flags.sidecar,
    });
  } catch (error) {
    if (ConsumerError.is(error, "config_invalid")) throw new UsageError(error.message);
    throw error;
  }
}

export function registerConsume(program: Command): void {
  const command = program
    .command("consume")
    .description(
      "run a pipeline: Kafka events → features → the sidecar's model → predictions, until SIGTERM/SIGINT",
    );
  addPipelineOptions(command, true)
    .addOption(
      new Option("--log-level <level>", "least severe log line written to stderr")
        .choices(LOG_LEVELS)
        .default("info"),
    )
    .addHelpText(
      "after",
      `
Logs are JSON lines on stderr. At start the model's metadata is read and checked against the
features: a pipeline whose rows do not fit the model's input does not start.
Exit status: 0 stopped by a signal, 1 failed (Kafka, Redis or the sidecar unreachable at start, or
a fatal error), 2 invalid pipeline file or flags.
Examples:
  $ sluice consume --config examples/pipelines/fraud.yaml
  $ sluice consume --config fraud.yaml --brokers kafka-0:9092,kafka-1:9092 --sidecar 127.0.0.1:8001`,
    );
  command.action((flags: PipelineFlags & { logLevel: LogLevel }, self: Command) =>
    runAction(self, async () => {
      const config = await loadConfig(flags);
      const log = jsonLinesLog(flags.logLevel);
      const pipeline = await startPipeline(config, { log }).catch((error: unknown) => {
        // A model that does not fit the features is the file's fault, like any other bad config.
        if (ConsumerError.is(error, "config_invalid")) {
          throw new UsageError(`${flags.config}: ${error.message}`);
        }
        throw error;
      });
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          log("warn", `${signal} again: exiting without waiting for the micro-batch in hand`);
          process.exit(130);
        }
        log("info", `${signal}: finishing the micro-batch in hand, committing, leaving the group`);
        void pipeline.stop();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      const stats = setInterval(
        () => log("info", "progress", { ...pipeline.stats }),
        STATS_EVERY_MS,
      );
      stats.unref();
      try {
        await pipeline.stopped;
      } finally {
        clearInterval(stats);
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
    }),
  );
}
