/**
 * The local stack as a whole: `ensureStack` (up), `stackStatus`, `stopStack` (down). The CLI and
 * the test suite both use these, so a developer's `sluice stack up` and the tests run the very same
 * Kafka and Redis.
 */
import { rm } from "node:fs/promises";
import { ensureKafkaJars, requireJava } from "./kafka-jars.js";
import { checkKafka, startKafka, waitForKafka } from "./kafka-service.js";
import { probeKafka } from "./kafka-protocol.js";
import {
  type ServiceRecord,
  type StopOutcome,
  isRunning,
  readRecord,
  removeRecord,
  stopProcess,
} from "./processes.js";
import { redisPing } from "./redis-ping.js";
import { checkRedis, startRedis, waitForRedis } from "./redis-service.js";
import { StackError, stackTimeout } from "./stack-error.js";
import {
  LOOPBACK,
  type ResolvedStackOptions,
  type StackOptions,
  formatHostPort,
  parseBrokers,
  parseRedisUrl,
  resolveStackOptions,
} from "./stack-options.js";
import { SERVICES, type ServiceName, servicePaths } from "./stack-paths.js";
import { withStateLock } from "./state-lock.js";
import { waitFor } from "../wait.js";

/** How long an address from KAFKA_BROKERS / REDIS_URL may take to answer: it may be starting too. */
const EXTERNAL_WAIT_MS = 15_000;
/** A status probe: a healthy local service answers in milliseconds. */
const STATUS_PROBE_MS = 2_000;

/** How `up` found or left a service. */
export type ServiceUpState =
  /** Started by this call. */
  | "started"
  /** Already running and healthy: nothing was done. */
  | "running"
  /** Given by KAFKA_BROKERS / REDIS_URL: checked, not started. */
  | "external";

export interface ServiceUp {
  state: ServiceUpState;
  /** `host:port` (the first broker, for Kafka). */
  address: string;
  /** Absent for external services. */
  pid?: number;
  /** Absent for external services. */
  log?: string;
}

export interface StackEndpoints {
  /** For kafkajs `brokers` (split on ","), and the KAFKA_BROKERS convention. */
  brokers: string;
  /** redis://host:port */
  redisUrl: string;
}

export interface StackUp extends StackEndpoints {
  kafka: ServiceUp;
  redis: ServiceUp;
}

/**
 * Makes sure a Kafka and a Redis are up and healthy, and resolves with their addresses. When env
 * KAFKA_BROKERS (or REDIS_URL) is set, that service is only checked, never started; otherwise the
 * stack's own is started unless it already runs healthy (then this is a no-op). Started processes
 * keep running after this process exits: `stopStack` ends them.
 */
export async function ensureStack(options: StackOptions = {}): Promise<StackUp> {
  const o = resolveStackOptions(options);
  const kafkaEnv = nonEmpty(o.env["KAFKA_BROKERS"]);
  const redisEnv = nonEmpty(o.env["REDIS_URL"]);
  // Parsed before anything starts, so a typo fails fast and names the variable.
  const brokers = kafkaEnv === undefined ? undefined : parseBrokers(kafkaEnv);
  const redis = redisEnv === undefined ? undefined : parseRedisUrl(redisEnv);

  const up = async (): Promise<StackUp> => {
    const [kafka, redisUp] = await settleAll([
      brokers === undefined ? serviceUp("kafka", o) : externalKafka(kafkaEnv ?? "", brokers),
      redis === undefined ? serviceUp("redis", o) : externalRedis(redisEnv ?? "", redis),
    ]);
    if (kafka === undefined || redisUp === undefined) throw new Error("unreachable: two services");
    return {
      brokers: kafkaEnv ?? kafka.address,
      redisUrl: redisEnv ?? `redis://${redisUp.address}`,
      kafka,
      redis: redisUp,
    };
  };
  if (brokers !== undefined && redis !== undefined) return up();
  // Waits out another `up` that may be fetching jars and starting both services.
  const lockWaitMs = o.fetchTimeoutMs + o.installTimeoutMs + 2 * o.startTimeoutMs;
  return withStateLock(o.stateDir, lockWaitMs, up);
}

/** One service of the stack, as `status` reports it. */
export interface ServiceStatus {
  service: ServiceName;
  /** Its process runs (per its pid file and command line). */
  running: boolean;
  /** It answered its health check just now. */
  healthy: boolean;
  pid?: number;
  port?: number;
  /** Why it is not healthy, or what it answered. */
  detail: string;
  log: string;
  startedAt?: string;
}

export interface StackStatus {
  kafka: ServiceStatus;
  redis: ServiceStatus;
  /** Both run and are healthy. */
  healthy: boolean;
}

/** What runs in the stack's state folder, each service probed once. Changes nothing. */
export async function stackStatus(options: StackOptions = {}): Promise<StackStatus> {
  const o = resolveStackOptions(options);
  const [kafka, redis] = await Promise.all(SERVICES.map((service) => serviceStatus(service, o)));
  if (kafka === undefined || redis === undefined) throw new Error("unreachable: two services");
  return { kafka, redis, healthy: kafka.healthy && redis.healthy };
}

export interface StopOptions extends StackOptions {
  /** Also delete Kafka's data, the configs and the logs. @default false */
  purge?: boolean;
}

export type StackDown = Record<ServiceName, StopOutcome>;

/**
 * Stops the stack's services: SIGTERM, then SIGKILL after `stopTimeoutMs`. Kafka's data survives
 * unless `purge` is set. Services given by KAFKA_BROKERS / REDIS_URL are never touched.
 */
export async function stopStack(options: StopOptions = {}): Promise<StackDown> {
  const o = resolveStackOptions(options);
  // Waits out an `up` in progress: stopping halfway through its start would leave a mess.
  const lockWaitMs = o.fetchTimeoutMs + o.installTimeoutMs + 2 * o.startTimeoutMs;
  return withStateLock(o.stateDir, lockWaitMs, async () => {
    const [kafka, redis] = await settleAll(SERVICES.map((service) => stopService(service, o)));
    if (options.purge === true) {
      for (const service of SERVICES) {
        const paths = servicePaths(o.stateDir, service);
        await rm(paths.dir, { recursive: true, force: true });
        await rm(paths.log, { force: true });
      }
      o.progress(`purged Kafka's data, the configs and the logs in ${o.stateDir}`);
    }
    return { kafka: kafka ?? "not-running", redis: redis ?? "not-running" };
  });
}

/**
 * Fetches the Kafka jars into the cache when missing (and checks Java), starting nothing: for CI
 * to warm up before tests, whose per-test timeouts a first fetch could exceed. Resolves with the
 * jars' folder.
 */
export async function fetchKafkaJars(options: StackOptions = {}): Promise<string> {
  const o = resolveStackOptions(options);
  await requireJava();
  return ensureKafkaJars({
    cacheDir: o.cacheDir,
    timeoutMs: o.fetchTimeoutMs,
    progress: o.progress,
  });
}

/**
 * True when a Kafka broker answers ApiVersions and Metadata at `brokers` (the first that answers
 * counts). For tests that need Kafka and should say why they skip.
 * @default brokers env KAFKA_BROKERS, else 127.0.0.1:9092; timeoutMs 2 s
 */
export async function kafkaAvailable(
  brokers = nonEmpty(process.env["KAFKA_BROKERS"]) ?? `${LOOPBACK}:9092`,
  timeoutMs = 2_000,
): Promise<boolean> {
  for (const address of parseBrokers(brokers)) {
    if (
      await probeKafka(address, timeoutMs).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

/**
 * True when Redis answers PING at `url`.
 * @default url env REDIS_URL, else redis://127.0.0.1:6379; timeoutMs 2 s
 */
export async function redisAvailable(
  url = nonEmpty(process.env["REDIS_URL"]) ?? `redis://${LOOPBACK}:6379`,
  timeoutMs = 2_000,
): Promise<boolean> {
  return redisPing(parseRedisUrl(url), timeoutMs).then(
    () => true,
    () => false,
  );
}

async function serviceUp(service: ServiceName, o: ResolvedStackOptions): Promise<ServiceUp> {
  const paths = servicePaths(o.stateDir, service);
  const port = service === "kafka" ? o.kafkaPort : o.redisPort;
  const name = service === "kafka" ? "Kafka" : "Redis";
  const record = await readRecord(paths.record);
  if (record !== undefined && isRunning(record.pid, record.markers)) {
    if (record.port !== port) {
      throw new StackError(
        "conflict",
        `the stack's ${name} already runs on ${LOOPBACK}:${record.port} (pid ${record.pid}), not on the requested port ${port}: run \`sluice stack down\` first to change ports`,
      );
    }
    // Healthy: a no-op. Still starting (an `up` that was interrupted): wait for it, bounded.
    try {
      if (service === "kafka") await waitForKafka(record, o.startTimeoutMs);
      else await waitForRedis(record, o.startTimeoutMs);
    } catch (error) {
      const cause = StackError.from(error, "unhealthy");
      throw new StackError(
        cause.code,
        `the stack's ${name} runs (pid ${record.pid}) but is not healthy: ${cause.message}\nRun \`sluice stack down\` and \`sluice stack up\` to restart it.`,
        { cause },
      );
    }
    return { state: "running", ...local(record) };
  }
  if (record !== undefined) await removeRecord(paths.record); // its process is gone
  const started = service === "kafka" ? await startKafka(o) : await startRedis(o);
  return { state: "started", ...local(started) };
}

function local(record: ServiceRecord): Omit<ServiceUp, "state"> {
  return { address: `${LOOPBACK}:${record.port}`, pid: record.pid, log: record.log };
}

async function externalKafka(
  value: string,
  brokers: ReturnType<typeof parseBrokers>,
): Promise<ServiceUp> {
  const address = await waitFor(
    `a Kafka broker of KAFKA_BROKERS=${value} to answer ApiVersions and Metadata (KAFKA_BROKERS is set, so the stack starts no Kafka)`,
    async () => {
      const errors: string[] = [];
      for (const broker of brokers) {
        try {
          await probeKafka(broker, STATUS_PROBE_MS);
          return formatHostPort(broker);
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
      throw new Error(errors.join("; "));
    },
    { timeoutMs: EXTERNAL_WAIT_MS, intervalMs: 500, timeoutError: stackTimeout },
  );
  return { state: "external", address };
}

async function externalRedis(
  value: string,
  address: ReturnType<typeof parseRedisUrl>,
): Promise<ServiceUp> {
  const shown = value.replace(/\/\/[^@/]*@/, "//***@"); // never print a password
  await waitFor(
    `Redis at REDIS_URL=${shown} to answer PING (REDIS_URL is set, so the stack starts no Redis)`,
    async () => {
      await redisPing(address, STATUS_PROBE_MS);
      return true;
    },
    { timeoutMs: EXTERNAL_WAIT_MS, intervalMs: 500, timeoutError: stackTimeout },
  );
  return { state: "external", address: formatHostPort(address) };
}

async function serviceStatus(
  service: ServiceName,
  o: ResolvedStackOptions,
): Promise<ServiceStatus> {
  const paths = servicePaths(o.stateDir, service);
  const record = await readRecord(paths.record);
  if (record === undefined) {
    return { service, running: false, healthy: false, detail: "not started", log: paths.log };
  }
  const base = {
    service,
    pid: record.pid,
    port: record.port,
    log: record.log,
    startedAt: record.startedAt,
  };
  if (!isRunning(record.pid, record.markers)) {
    return {
      ...base,
      running: false,
      healthy: false,
      detail: `pid ${record.pid} has exited (see the log)`,
    };
  }
  try {
    if (service === "kafka") {
      const probe = await checkKafka(record.port, record.clusterId, STATUS_PROBE_MS);
      const detail = `cluster ${probe.metadata.clusterId}, controller ${probe.metadata.controllerId}, ${probe.apiVersions.length} APIs`;
      return { ...base, running: true, healthy: true, detail };
    }
    await checkRedis(record.port, STATUS_PROBE_MS);
    return { ...base, running: true, healthy: true, detail: "PONG" };
  } catch (error) {
    return { ...base, running: true, healthy: false, detail: (error as Error).message };
  }
}

async function stopService(service: ServiceName, o: ResolvedStackOptions): Promise<StopOutcome> {
  const paths = servicePaths(o.stateDir, service);
  const record = await readRecord(paths.record);
  if (record === undefined) return "not-running";
  const name = service === "kafka" ? "Kafka" : "Redis";
  const started = performance.now();
  const outcome = await stopProcess(record.pid, record.markers, o.stopTimeoutMs);
  await removeRecord(paths.record);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (outcome === "stopped") o.progress(`stopped ${name} (pid ${record.pid}) in ${seconds} s`);
  if (outcome === "killed") {
    o.progress(
      `${name} (pid ${record.pid}) ignored SIGTERM for ${o.stopTimeoutMs} ms: killed it (SIGKILL)`,
    );
  }
  return outcome;
}

/**
 * Like Promise.all, but waits for every promise before rejecting, so a failing Kafka start does not
 * leave a Redis start running unobserved; when several fail, their messages are joined.
 */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failures = results.filter((result) => result.status === "rejected");
  if (failures.length === 0)
    return results.map((result) => (result as PromiseFulfilledResult<T>).value);
  const errors = failures.map((failure) => StackError.from(failure.reason));
  const first = errors[0] as StackError;
  if (errors.length === 1) throw first;
  throw new StackError(first.code, errors.map((error) => error.message).join("\n"), {
    cause: first,
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
