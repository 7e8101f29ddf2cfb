/**
 * `sluice consume`: runs one pipeline (a YAML file) until SIGTERM/SIGINT: consumes events,
 * computes features, scores them with the sidecar, publishes predictions and dead letters, and
 * commits offsets only after its outputs are safe. On a signal it finishes the micro-batch in
 * hand, commits it, leaves the group and exits 0.
 */
import { Option, type Command } from "commander";
import {
  ConsumerError,
  ConsumerMetrics,
  DEFAULT_METRICS_PORT,
  containerInstanceId,
  loadKafkaSecurity,
  loadPipelineConfig,
  startPipeline,
  type KafkaSecurity,
  type PipelineConfig,
} from "@sluice/consumer";
import {
  LOG_LEVELS,
  createLogger,
  errorMessage,
  type LogLevel,
  type Logger,
  type MetricsServer,
} from "@sluice/kit";
import { startTelemetry } from "../telemetry.js";
import { integer } from "../flags/parsers.js";
import { UsageError, runAction } from "../output/exit.js";

/** The flags every pipeline command shares: the file, and the addresses that override its own. */
export interface PipelineFlags {
  config: string;
  brokers?: string;
  redisUrl?: string;
  sidecar?: string;
  /** `consume` only. */
  metricsPort?: number;
  metricsHost?: string;
  /** `consume` only. */
  instanceId?: string;
}

/** How often `consume` logs its counters: often enough to watch, rarely enough to read. */
const STATS_EVERY_MS = 10_000;
/** `--log-level` choices: every level but "silent" (a pipeline nobody hears from is a mistake). */
const CONSUME_LOG_LEVELS = LOG_LEVELS.filter((level) => level !== "silent");

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
      metricsPort: flags.metricsPort,
      metricsHost: flags.metricsHost,
      instanceId: flags.instanceId,
      defaultInstanceId: containerInstanceId(),
    });
  } catch (error) {
    if (ConsumerError.is(error, "config_invalid")) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The TLS and SASL material the pipeline file names, for the tools that talk to its cluster
 * (`produce`, `verify`); a missing file or variable is a usage error (exit 2), naming its key.
 */
export async function loadSecurity(config: PipelineConfig, file: string): Promise<KafkaSecurity> {
  try {
    return await loadKafkaSecurity(config.kafka.security);
  } catch (error) {
    if (ConsumerError.is(error, "config_invalid"))
      throw new UsageError(`${file}:\n${error.message}`);
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
        .choices(CONSUME_LOG_LEVELS)
        .default("info"),
    )
    .option(
      "--metrics-port <port>",
      `Prometheus /metrics port, instead of the file's (default ${DEFAULT_METRICS_PORT}; 0 picks a free one, -1 turns it off)`,
      integer("--metrics-port", -1, 65535),
    )
    .option(
      "--metrics-host <address>",
      "address /metrics listens on, instead of the file's (default 127.0.0.1; 0.0.0.0 for all interfaces)",
    )
    .addOption(
      new Option(
        "--instance-id <id>",
        "static group membership: this process's group instance id, instead of the file's kafka.group_instance_id (default: the pod's name in Kubernetes, the container's in Docker, none elsewhere)",
      ).env("SLUICE_INSTANCE_ID"),
    )
    .addHelpText(
      "after",
      `
Logs are JSON lines on stderr. At start the model's metadata is read and checked against the
features: a pipeline whose rows do not fit the model's input does not start.
With a group instance id (static membership), a process killed and started again with the same id
takes its partitions back at once instead of after the session timeout; two processes of one
group must never share an id (the one that joined first stops, saying so). Prometheus metrics
(lag, throughput, stage times, end-to-end latency, scores; see docs/metrics.md) are served at
http://<metrics host>:<metrics port>/metrics, and sluice top shows them live. A status page on the
same port, http://<metrics host>:<metrics port>/ (figures at /status.json), charts them over the
last ten minutes: throughput, lag, latency percentiles, rollout arms, shadow, drift, evaluation.
Exit status: 0 stopped by a signal, 1 failed (Kafka, Redis or the sidecar unreachable at start,
Kafka refusing the file's SASL credentials or TLS certificate, or a fatal error), 2 invalid pipeline
file or flags (a kafka.tls file or kafka.sasl password that cannot be read included).
Under npx or npm run, which do not pass SIGTERM on, it stops as on SIGTERM once npm has exited.
A second consumer of the same pipeline on the same machine needs its own --metrics-port; it joins
the group and takes half of the partitions.
Examples:
  $ sluice consume --config examples/pipelines/fraud.yaml
  $ sluice consume --config examples/pipelines/fraud.yaml --brokers 127.0.0.1:9092 --sidecar 127.0.0.1:8001 --metrics-port 8004 --instance-id fraud-2`,
    );
  command.action((flags: PipelineFlags & { logLevel: LogLevel }, self: Command) =>
    runAction(self, async () => {
      const config = await loadConfig(flags);
      const log = createLogger({ name: "sluice-consumer", level: flags.logLevel });
      const telemetry = await startTelemetry("sluice-consumer");
      try {
        await consumeUntilStopped(config, log, flags.config);
      } finally {
        // The spans of the last micro-batches are exported before the process exits.
        await telemetry.shutdown();
      }
    }),
  );
}

/** Starts the pipeline and waits until it stops: a signal, or a fatal error. */
async function consumeUntilStopped(
  config: PipelineConfig,
  log: Logger,
  file: string,
): Promise<void> {
  const metrics = new ConsumerMetrics({ processMetrics: true });
  const server = await serveMetrics(metrics, config.metrics, log);
  const pipeline = await startPipeline(config, { log, metrics }).catch(async (error: unknown) => {
    await server?.close();
    // A model that does not fit the features is the file's fault, like any other bad config.
    if (ConsumerError.is(error, "config_invalid")) {
      throw new UsageError(`${file}: ${error.message}`);
    }
    throw error;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({}, `${signal} again: exiting without waiting for the micro-batch in hand`);
      process.exit(130);
    }
    log.info({}, `${signal}: finishing the micro-batch in hand, committing, leaving the group`);
    void pipeline.stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const stats = setInterval(() => log.info({ ...pipeline.stats }, "progress"), STATS_EVERY_MS);
  stats.unref();
  try {
    await pipeline.stopped;
  } finally {
    clearInterval(stats);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    await server?.close();
  }
}

/**
 * Serves `/metrics` before the pipeline joins its group, so a port in use stops the command before
 * it takes partitions from anyone; undefined when the port is -1.
 */
async function serveMetrics(
  metrics: ConsumerMetrics,
  { host, port }: PipelineConfig["metrics"],
  log: Logger,
): Promise<MetricsServer | undefined> {
  if (port < 0) return undefined;
  const server = await metrics.listen(host, port).catch((error: unknown) => {
    throw new Error(
      `cannot serve metrics on ${host}:${port}: ${errorMessage(error)}; choose another --metrics-port (0 picks a free one, -1 turns metrics off)`,
      { cause: error },
    );
  });
  const url = `http://${host}:${server.port}`;
  log.info({ metricsPort: server.port }, `metrics at ${url}/metrics, status page at ${url}/`);
  return server;
}
