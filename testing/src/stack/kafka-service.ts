/**
 * Starting and checking the stack's Kafka: a single JVM running `kafka.Kafka` in KRaft combined
 * mode, storage formatted once with a generated cluster id.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  kafkaLog4jProperties,
  kafkaServerProperties,
  newKafkaClusterId,
  parseProperties,
} from "./kafka-config.js";
import { ensureKafkaJars, requireJava } from "./kafka-jars.js";
import { type KafkaProbe, probeKafka } from "./kafka-protocol.js";
import {
  type ServiceRecord,
  recordUntilHealthy,
  spawnDetached,
  waitForService,
} from "./processes.js";
import { runCommand } from "./run-command.js";
import { StackError } from "./stack-error.js";
import {
  LOOPBACK,
  type ResolvedStackOptions,
  type SecureListenerOptions,
} from "./stack-options.js";
import { servicePaths } from "./stack-paths.js";
import { freePort, isPortFree } from "../wait.js";

/**
 * JVM flags, after Kafka's own kafka-server-start.sh but with a modest heap: a development broker
 * holds little, and the machine also runs the sidecar, consumers and tests.
 */
export const KAFKA_JVM_OPTIONS: readonly string[] = [
  "-Xms256m",
  "-Xmx512m",
  "-XX:+UseG1GC",
  "-XX:MaxGCPauseMillis=20",
  "-XX:InitiatingHeapOccupancyPercent=35",
  "-XX:+ExplicitGCInvokesConcurrent",
  "-Djava.awt.headless=true",
];
/** Formatting storage is a short JVM run; a minute only bounds a wedged one. */
const FORMAT_TIMEOUT_MS = 60_000;
/** One health probe; the broker answers in milliseconds when it is up. */
const PROBE_TIMEOUT_MS = 3_000;

export interface KafkaFiles {
  serverProperties: string;
  log4j: string;
  formatLog4j: string;
  dataDir: string;
  /** The secure listener's key and certificate chain, in the PEM layout Kafka reads. */
  keystorePem: string;
}

export function kafkaFiles(stateDir: string): KafkaFiles {
  const { dir } = servicePaths(stateDir, "kafka");
  return {
    serverProperties: join(dir, "server.properties"),
    log4j: join(dir, "log4j.properties"),
    formatLog4j: join(dir, "format-log4j.properties"),
    dataDir: join(dir, "data"),
    keystorePem: join(dir, "secure-listener.pem"),
  };
}

/**
 * Checks the Kafka at 127.0.0.1:port: ApiVersions and Metadata answer, a controller is active, and
 * (when `clusterId` is given) it is this stack's cluster and not another Kafka on the same port.
 */
export async function checkKafka(
  port: number,
  clusterId?: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<KafkaProbe> {
  const probe = await probeKafka({ host: LOOPBACK, port }, timeoutMs);
  if (clusterId !== undefined && probe.metadata.clusterId !== clusterId) {
    throw new StackError(
      "conflict",
      `${LOOPBACK}:${port} answers as Kafka cluster ${probe.metadata.clusterId}, expected this stack's cluster ${clusterId}: another Kafka holds the port`,
    );
  }
  return probe;
}

/**
 * Starts the stack's Kafka and resolves once it is healthy. On any failure after the spawn the
 * process is stopped again, so a failed `up` leaves nothing half-started behind.
 */
export async function startKafka(options: ResolvedStackOptions): Promise<ServiceRecord> {
  const { stateDir, kafkaPort, progress } = options;
  const paths = servicePaths(stateDir, "kafka");
  const files = kafkaFiles(stateDir);
  const java = await requireJava();
  const lib = await ensureKafkaJars({
    cacheDir: options.cacheDir,
    timeoutMs: options.fetchTimeoutMs,
    progress,
  });
  const controllerPort = options.kafkaControllerPort ?? (await freePort());
  const { secureListener } = options;
  const ports: [string, number][] = [
    ["Kafka", kafkaPort],
    ["Kafka's controller", controllerPort],
  ];
  if (secureListener !== undefined) ports.push(["Kafka's SASL_SSL listener", secureListener.port]);
  for (const [what, port] of ports) {
    if (!(await isPortFree(port))) throw await portInUse(what, port);
  }

  await mkdir(files.dataDir, { recursive: true });
  if (secureListener !== undefined) {
    // Kafka's PEM keystore: the private key first, then the certificate chain, in one file.
    await writeFile(
      files.keystorePem,
      `${String(secureListener.key).trim()}\n${String(secureListener.cert).trim()}\n`,
      { mode: 0o600 },
    );
  }
  await writeFile(
    files.serverProperties,
    kafkaServerProperties({
      port: kafkaPort,
      controllerPort,
      dataDir: files.dataDir,
      secure: secureListener && { port: secureListener.port, keystorePem: files.keystorePem },
    }),
  );
  await writeFile(files.log4j, kafkaLog4jProperties("INFO"));
  await writeFile(files.formatLog4j, kafkaLog4jProperties("WARN"));
  const classPath = join(lib, "*");
  const clusterId = await formatStorage(java, classPath, files, progress, secureListener?.users);

  progress(`starting Kafka on ${LOOPBACK}:${kafkaPort} (log: ${paths.log})`);
  const started = performance.now();
  const pid = await spawnDetached(
    java,
    [
      ...KAFKA_JVM_OPTIONS,
      `-Dlog4j.configuration=${pathToFileURL(files.log4j).href}`,
      "-cp",
      classPath,
      "kafka.Kafka",
      files.serverProperties,
    ],
    { logFile: paths.log, cwd: paths.dir },
  );
  const record = await recordUntilHealthy(
    paths,
    {
      pid,
      port: kafkaPort,
      controllerPort,
      clusterId,
      // The properties path is unique to this state folder: no other process has it on its command line.
      markers: [files.serverProperties],
    },
    waitForKafka,
    options,
  );
  progress(
    `Kafka is healthy on ${LOOPBACK}:${kafkaPort} after ${((performance.now() - started) / 1000).toFixed(1)} s (pid ${pid})`,
  );
  return record;
}

/** Waits until the recorded Kafka is healthy; fails at once if its process exits. */
export async function waitForKafka(record: ServiceRecord, timeoutMs: number): Promise<KafkaProbe> {
  return waitForService(record, timeoutMs, {
    until: `Kafka on ${LOOPBACK}:${record.port} (pid ${record.pid}) to answer ApiVersions and Metadata with an active controller`,
    exited: `Kafka (pid ${record.pid}) exited before it became healthy on ${LOOPBACK}:${record.port} (if its data is damaged, \`sluice stack down --purge\` starts over)`,
    probe: () => checkKafka(record.port, record.clusterId),
  });
}

/** The cluster id of formatted storage, formatting it first (KRaft needs it) when it is new. */
async function formatStorage(
  java: string,
  classPath: string,
  files: KafkaFiles,
  progress: (line: string) => void,
  scramUsers: SecureListenerOptions["users"] = [],
): Promise<string> {
  const existing = await readClusterId(files.dataDir);
  if (existing !== undefined) return existing;
  const clusterId = newKafkaClusterId();
  progress(`formatting Kafka's storage (cluster id ${clusterId})`);
  const result = await runCommand(
    java,
    [
      "-Xmx256m",
      `-Dlog4j.configuration=${pathToFileURL(files.formatLog4j).href}`,
      "-cp",
      classPath,
      "kafka.tools.StorageTool",
      "format",
      "--cluster-id",
      clusterId,
      "--config",
      files.serverProperties,
      "--ignore-formatted",
      // KRaft keeps SCRAM credentials in its metadata log: they are written when it is created.
      ...scramUsers.flatMap(({ mechanism, name, password }) => [
        "--add-scram",
        `${mechanism}=[name=${name},password=${password}]`,
      ]),
    ],
    { timeoutMs: FORMAT_TIMEOUT_MS },
  );
  const formatted = await readClusterId(files.dataDir);
  if (result.code !== 0 || formatted === undefined) {
    throw new StackError(
      "start_failed",
      `formatting Kafka's storage in ${files.dataDir} failed (${result.timedOut ? `timed out after ${FORMAT_TIMEOUT_MS} ms` : `exit code ${result.code}`}), expected a meta.properties with a cluster.id. StorageTool said:\n${result.output}`,
    );
  }
  return formatted;
}

async function readClusterId(dataDir: string): Promise<string | undefined> {
  try {
    return parseProperties(await readFile(join(dataDir, "meta.properties"), "utf8")).get(
      "cluster.id",
    );
  } catch {
    return undefined;
  }
}

async function portInUse(what: string, port: number): Promise<StackError> {
  let who = "something";
  try {
    const probe = await checkKafka(port);
    who = `a Kafka (cluster ${probe.metadata.clusterId})`;
  } catch {
    // not a Kafka, or not answering: "something"
  }
  const hint =
    what === "Kafka"
      ? `stop it, choose another port (--kafka-port), or use it: KAFKA_BROKERS=${LOOPBACK}:${port}`
      : "stop it or choose another controller port";
  return new StackError(
    "port_in_use",
    `${what} port ${LOOPBACK}:${port} is taken by ${who} this stack did not start: ${hint}`,
  );
}
