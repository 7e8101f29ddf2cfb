/**
 * `sluice stack up|down|status|fetch`: a local single-node Kafka (KRaft) and Redis for development,
 * without Docker. The processes run detached in the background; the test suite uses the same
 * launcher through @sluice/testing/stack.
 */
import { type Command, InvalidArgumentError } from "commander";
import {
  DEFAULT_KAFKA_PORT,
  DEFAULT_REDIS_PORT,
  KAFKA_VERSION,
  type ServiceStatus,
  type StackOptions,
  type StopOutcome,
  StackError,
  type StackStatus,
  ensureStack,
  fetchKafkaJars,
  parsePort,
  stackStatus,
  stopStack,
} from "@sluice/testing/stack";
import { parseMilliseconds } from "../flags/parsers.js";
import { UsageError, exitWith, runAction } from "../output/exit.js";
import { print, printJson } from "../output/print.js";
import { formatTable } from "../output/table.js";

interface CommonFlags {
  stateDir?: string;
}

interface UpFlags extends CommonFlags {
  kafkaPort: number;
  redisPort: number;
  timeout?: number;
}

interface DownFlags extends CommonFlags {
  timeout?: number;
  purge?: boolean;
}

interface StatusFlags extends CommonFlags {
  json?: boolean;
}

/** commander argument parser for a TCP port flag (1-65535). */
export function portFlag(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parsePort(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message.replace(`${flag}: `, ""));
    }
  };
}

export function registerStack(program: Command): void {
  const stack = program
    .command("stack")
    .description(
      `a local single-node Kafka ${KAFKA_VERSION} (KRaft) and Redis on 127.0.0.1 for development, without Docker`,
    )
    .addHelpText(
      "after",
      `
Kafka's jars come from Maven Central on the first \`up\` (cached under .cache/kafka/); Redis is
Debian's redis-server. Pid files, logs and Kafka's data live under .sluice/stack/.
Examples:
  $ sluice stack up
  $ sluice stack status
  $ sluice stack down`,
    );

  const up = stack
    .command("up")
    .description(
      "start Kafka and Redis in the background and wait until both are healthy (a no-op when they are)",
    )
    .option(
      "--kafka-port <port>",
      "Kafka's client port on 127.0.0.1",
      portFlag("--kafka-port"),
      DEFAULT_KAFKA_PORT,
    )
    .option(
      "--redis-port <port>",
      "Redis's port on 127.0.0.1",
      portFlag("--redis-port"),
      DEFAULT_REDIS_PORT,
    )
    .option(
      "--timeout <ms>",
      "most each service may take to become healthy (default: 90000)",
      parseMilliseconds,
    );
  addStateDirOption(up).addHelpText(
    "after",
    `
Prints where the services listen, and the env variables the consumer and tests read. When
KAFKA_BROKERS or REDIS_URL is already set, that service is only checked, not started.
Exit status: 0 both healthy, 1 a service failed to start (the message names its log), 2 bad flags.
Examples:
  $ sluice stack up
  $ sluice stack up --kafka-port 19092 --redis-port 16379
  $ eval "export $(sluice stack up | tail -n 1)"   # sets KAFKA_BROKERS and REDIS_URL`,
  );
  up.action((flags: UpFlags, self: Command) =>
    runAction(self, async () => {
      const options: StackOptions = {
        ...stackOptions(flags),
        kafkaPort: flags.kafkaPort,
        redisPort: flags.redisPort,
      };
      if (flags.timeout !== undefined) options.startTimeoutMs = flags.timeout;
      const result = await usageOnInvalid(ensureStack(options));
      const rows = (["kafka", "redis"] as const).map((service) => {
        const info = result[service];
        return [
          service,
          info.state,
          info.address,
          info.pid === undefined ? "-" : String(info.pid),
          info.log ?? "-",
        ];
      });
      print(self, formatTable(["SERVICE", "STATE", "ADDRESS", "PID", "LOG"], rows));
      print(self, `KAFKA_BROKERS=${result.brokers} REDIS_URL=${result.redisUrl}`);
    }),
  );

  const down = stack
    .command("down")
    .description("stop the stack's Kafka and Redis: SIGTERM, then SIGKILL after --timeout")
    .option(
      "--timeout <ms>",
      "how long each service may take to exit after SIGTERM (default: 20000)",
      parseMilliseconds,
    )
    .option("--purge", "also delete Kafka's data (topics, offsets), the configs and the logs");
  addStateDirOption(down).addHelpText(
    "after",
    `
Kafka's topics and offsets survive \`down\` unless --purge is given; Redis keeps nothing.
Examples:
  $ sluice stack down
  $ sluice stack down --purge --timeout 5000`,
  );
  down.action((flags: DownFlags, self: Command) =>
    runAction(self, async () => {
      const options: StackOptions & { purge?: boolean } = stackOptions(flags);
      if (flags.timeout !== undefined) options.stopTimeoutMs = flags.timeout;
      if (flags.purge === true) options.purge = true;
      const result = await usageOnInvalid(stopStack(options));
      const rows = (["kafka", "redis"] as const).map((service) => [
        service,
        describeStop(result[service]),
      ]);
      print(self, formatTable(["SERVICE", "RESULT"], rows));
    }),
  );

  const status = stack
    .command("status")
    .description("show what runs: pid, address, and whether each service answers its health check")
    .option("--json", "print the status as JSON");
  addStateDirOption(status).addHelpText(
    "after",
    `
Kafka is healthy when it answers ApiVersions and Metadata with an active controller; Redis when
it answers PING with PONG. The exit status says it (as a service manager's status does):
  0  both running and healthy
  1  something runs but is not healthy, or only one of the two runs
  3  neither runs (start them with \`sluice stack up\`)
Examples:
  $ sluice stack status
  $ sluice stack status --json`,
  );
  status.action((flags: StatusFlags, self: Command) =>
    runAction(self, async () => {
      const result = await usageOnInvalid(stackStatus(stackOptions(flags)));
      if (flags.json === true) {
        printJson(self, result);
      } else {
        const rows = [result.kafka, result.redis].map(statusRow);
        print(self, formatTable(["SERVICE", "STATE", "PID", "ADDRESS", "HEALTH", "DETAIL"], rows));
      }
      const code = statusExitCode(result);
      if (code !== 0) exitWith(code);
    }),
  );

  const fetch = stack
    .command("fetch")
    .description(
      `fetch the Kafka ${KAFKA_VERSION} jars with Maven into the cache, starting nothing`,
    );
  addStateDirOption(fetch).addHelpText(
    "after",
    `
\`up\` fetches them too when missing; this is for CI, to warm the cache before the tests run.
Examples:
  $ sluice stack fetch`,
  );
  fetch.action((flags: CommonFlags, self: Command) =>
    runAction(self, async () => {
      print(self, await usageOnInvalid(fetchKafkaJars(stackOptions(flags))));
    }),
  );
}

function addStateDirOption(command: Command): Command {
  return command.option(
    "--state-dir <dir>",
    "folder for pid files, logs and data (default: .sluice/stack/ at the repository root)",
  );
}

function stackOptions(flags: CommonFlags): StackOptions {
  const options: StackOptions = {
    progress: (line) => process.stderr.write(`sluice stack: ${line}\n`),
  };
  if (flags.stateDir !== undefined) options.stateDir = flags.stateDir;
  return options;
}

/** A malformed KAFKA_BROKERS or REDIS_URL is a usage error (exit 2), like a malformed flag. */
async function usageOnInvalid<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof StackError && error.code === "invalid_option") {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** 0 all healthy, 3 nothing runs, 1 anything in between: see the status command's help. */
export function statusExitCode(status: StackStatus): number {
  if (status.healthy) return 0;
  if (!status.kafka.running && !status.redis.running) return 3;
  return 1;
}

function statusRow(service: ServiceStatus): string[] {
  const state = service.running ? "running" : service.pid === undefined ? "stopped" : "exited";
  const health = service.running ? (service.healthy ? "healthy" : "unhealthy") : "-";
  return [
    service.service,
    state,
    service.pid === undefined ? "-" : String(service.pid),
    service.port === undefined ? "-" : `127.0.0.1:${service.port}`,
    health,
    service.detail,
  ];
}

function describeStop(outcome: StopOutcome): string {
  if (outcome === "killed") return "killed (did not exit after SIGTERM)";
  if (outcome === "not-running") return "was not running";
  return "stopped";
}
