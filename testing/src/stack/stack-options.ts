/** The stack's one options interface, its defaults, and the function that validates and fills them. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LOOPBACK } from "../wait.js";
import type { ScramMechanism } from "./kafka-config.js";
import { StackError } from "./stack-error.js";

/** Every service binds to LOOPBACK only: the stack has no authentication, so it must not be reachable from the network. */
export { LOOPBACK };
/** Kafka's registered port: every client's default bootstrap address points here. */
export const DEFAULT_KAFKA_PORT = 9092;
/** Redis's registered port, for the same reason. */
export const DEFAULT_REDIS_PORT = 6379;
/** JVM start plus KRaft activation takes ~3 s on an idle 2-core machine; a busy CI run needs far more. */
export const DEFAULT_START_TIMEOUT_MS = 90_000;
/** Kafka's controlled shutdown of a single node takes ~2 s; past this it is killed. */
export const DEFAULT_STOP_TIMEOUT_MS = 20_000;
/** The first fetch of the Kafka jars (~46 MB, a cold Maven cache) over a slow link. */
export const DEFAULT_FETCH_TIMEOUT_MS = 600_000;
/** Installing redis-server with apt-get, waiting out another install holding the dpkg lock. */
export const DEFAULT_INSTALL_TIMEOUT_MS = 300_000;

// This file is <repo>/testing/{src,dist}/stack/stack-options.*, so the repository root is three up.
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Where the stack keeps pid files, logs and data: git-ignored (`.sluice/`), per checkout. */
export const DEFAULT_STATE_DIR = join(REPO_ROOT, ".sluice", "stack");
/** Where fetched Kafka jars are cached (`<cacheDir>/<version>/lib`): git-ignored (`.cache/`). */
export const DEFAULT_CACHE_DIR = join(REPO_ROOT, ".cache", "kafka");

/**
 * A second Kafka listener, SASL_SSL: TLS with the given certificate and SCRAM authentication, so
 * clients can be tested against what a production cluster asks of them. The users are created
 * when Kafka's storage is first formatted, so give a fresh `stateDir` with it.
 */
export interface SecureListenerOptions {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** PEM private key of the broker (PKCS#8, unencrypted). */
  readonly key: string | Buffer;
  /** PEM certificate chain of the broker; its subject alternative names must include 127.0.0.1. */
  readonly cert: string | Buffer;
  readonly users: readonly {
    readonly mechanism: ScramMechanism;
    readonly name: string;
    readonly password: string;
  }[];
}

export interface StackOptions {
  /** Kafka's client port on 127.0.0.1. @default 9092 */
  kafkaPort?: number;
  /** Kafka's KRaft controller port on 127.0.0.1. @default a free port picked at each start */
  kafkaControllerPort?: number;
  /** Redis's port on 127.0.0.1. @default 6379 */
  redisPort?: number;
  /** Pid files, logs, Kafka's data dir and Redis's dir. @default <repo>/.sluice/stack */
  stateDir?: string;
  /** Cache of Kafka jars. @default <repo>/.cache/kafka */
  cacheDir?: string;
  /** Most a service may take from spawn to healthy. @default 90 s */
  startTimeoutMs?: number;
  /** Most a service may take to exit after SIGTERM before it is killed. @default 20 s */
  stopTimeoutMs?: number;
  /** Most the first Maven fetch of the Kafka jars may take. @default 10 min */
  fetchTimeoutMs?: number;
  /** Most installing redis-server with apt-get may take. @default 5 min */
  installTimeoutMs?: number;
  /** Where `KAFKA_BROKERS` and `REDIS_URL` are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Progress lines (fetching jars, starting, waiting). @default written to stderr */
  progress?: (line: string) => void;
  /** Kafka also listens with SASL_SSL (TLS + SCRAM). @default PLAINTEXT only */
  secureListener?: SecureListenerOptions | undefined;
}

export interface ResolvedStackOptions extends Required<
  Omit<StackOptions, "kafkaControllerPort" | "secureListener">
> {
  /** undefined: pick a free port at each start. */
  kafkaControllerPort: number | undefined;
  secureListener: SecureListenerOptions | undefined;
}

/** Validates `options` and fills every default; errors name the option and what came. */
export function resolveStackOptions(options: StackOptions = {}): ResolvedStackOptions {
  const resolved: ResolvedStackOptions = {
    kafkaPort: checkPort("kafkaPort", options.kafkaPort ?? DEFAULT_KAFKA_PORT),
    kafkaControllerPort:
      options.kafkaControllerPort === undefined
        ? undefined
        : checkPort("kafkaControllerPort", options.kafkaControllerPort),
    redisPort: checkPort("redisPort", options.redisPort ?? DEFAULT_REDIS_PORT),
    stateDir: options.stateDir ?? DEFAULT_STATE_DIR,
    cacheDir: options.cacheDir ?? DEFAULT_CACHE_DIR,
    startTimeoutMs: checkDuration(
      "startTimeoutMs",
      options.startTimeoutMs,
      DEFAULT_START_TIMEOUT_MS,
    ),
    stopTimeoutMs: checkDuration("stopTimeoutMs", options.stopTimeoutMs, DEFAULT_STOP_TIMEOUT_MS),
    fetchTimeoutMs: checkDuration(
      "fetchTimeoutMs",
      options.fetchTimeoutMs,
      DEFAULT_FETCH_TIMEOUT_MS,
    ),
    installTimeoutMs: checkDuration(
      "installTimeoutMs",
      options.installTimeoutMs,
      DEFAULT_INSTALL_TIMEOUT_MS,
    ),
    env: options.env ?? process.env,
    progress: options.progress ?? ((line) => process.stderr.write(`sluice stack: ${line}\n`)),
    secureListener: options.secureListener && {
      ...options.secureListener,
      port: checkPort("secureListener.port", options.secureListener.port),
    },
  };
  const ports = [
    ["kafkaPort", resolved.kafkaPort],
    ["redisPort", resolved.redisPort],
    ["kafkaControllerPort", resolved.kafkaControllerPort],
    ["secureListener.port", resolved.secureListener?.port],
  ] as const;
  for (const [i, [name, port]] of ports.entries()) {
    for (const [other, otherPort] of ports.slice(i + 1)) {
      if (port !== undefined && port === otherPort) {
        throw new StackError(
          "invalid_option",
          `${name} and ${other} are both ${port}: expected distinct ports`,
        );
      }
    }
  }
  return resolved;
}

/**
 * Parses a TCP port given as text (a CLI flag): an integer from 1 to 65535. Port 0 is refused:
 * the stack outlives the command that starts it, so its clients need the port up front.
 */
export function parsePort(value: string, what = "port"): number {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new StackError(
      "invalid_option",
      `${what}: expected a port from 1 to 65535, got "${value}"`,
    );
  }
  return checkPort(what, Number(trimmed));
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new StackError("invalid_option", `${what}: expected a port from 1 to 65535, got ${port}`);
  }
  return port;
}

function checkDuration(what: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new StackError(
      "invalid_option",
      `${what}: expected a positive number of milliseconds, got ${value}`,
    );
  }
  return value;
}

/** A `host:port` address, as in KAFKA_BROKERS. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses KAFKA_BROKERS (`host:port[,host:port...]`, the form kafkajs takes); `[::1]:9092` works
 * for IPv6. Throws naming the variable and the entry at fault.
 */
export function parseBrokers(value: string, what = "KAFKA_BROKERS"): HostPort[] {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new StackError(
      "invalid_option",
      `${what}: expected host:port[,host:port...], got "${value}"`,
    );
  }
  return entries.map((entry, index) => {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(entry);
    const host = match?.[1] ?? match?.[2];
    if (match === null || host === undefined) {
      throw new StackError(
        "invalid_option",
        `${what}[${index}]: expected host:port, got "${entry}"`,
      );
    }
    return { host, port: parsePort(match[3] ?? "", `${what}[${index}] port`) };
  });
}

/** What PING needs from REDIS_URL. */
export interface RedisAddress extends HostPort {
  username?: string;
  password?: string;
}

/** Parses REDIS_URL (`redis://[[user]:password@]host[:port][/db]`); TLS (`rediss:`) is refused. */
export function parseRedisUrl(value: string, what = "REDIS_URL"): RedisAddress {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StackError("invalid_option", `${what}: expected redis://host:port, got "${value}"`);
  }
  if (url.protocol !== "redis:") {
    throw new StackError(
      "invalid_option",
      `${what}: expected the redis: scheme (TLS is not supported by the health check), got "${url.protocol}"`,
    );
  }
  if (url.hostname === "") {
    throw new StackError("invalid_option", `${what}: expected a host, got "${value}"`);
  }
  const address: RedisAddress = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? DEFAULT_REDIS_PORT : parsePort(url.port, `${what} port`),
  };
  if (url.username !== "") address.username = decodeURIComponent(url.username);
  if (url.password !== "") address.password = decodeURIComponent(url.password);
  return address;
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
