import { isIP } from "node:net";
import type { ChannelOptions } from "@grpc/grpc-js";
import { InferenceError } from "@sluice/proto";
import type { RetryPolicy } from "./retry.js";

/** TLS for the channel. Mutual TLS when both `cert` and `key` are given. */
export interface TlsOptions {
  /** PEM CA certificate(s) the server's certificate must chain to. @default the system's roots */
  ca?: Buffer | string;
  /** PEM client certificate chain, for mutual TLS (requires `key`). */
  cert?: Buffer | string;
  /** PEM private key of `cert`, for mutual TLS (requires `cert`). */
  key?: Buffer | string;
  /** Name to verify the server's certificate against, when it differs from the address's host. */
  serverName?: string;
}

/** Options of {@link InferenceClient}. Only `address` is required. */
export interface InferenceClientOptions {
  /** Server address as `host:port`, e.g. `127.0.0.1:8001`; gRPC URIs such as `unix:/run/sluice.sock` work too. */
  address: string;
  /** Connect over TLS. @default plaintext */
  tls?: TlsOptions;
  /** Bearer token sent as `authorization: Bearer <token>` on repository calls (index, load, unload). */
  token?: string;
  /** Time allowed for one call, retries included, unless the call sets its own. @default 10000 */
  deadlineMs?: number;
  /** Time allowed for `loadModel`, which builds a runtime session and can take far longer. @default 120000 */
  loadDeadlineMs?: number;
  /** Retry of calls failing with UNAVAILABLE or RESOURCE_EXHAUSTED. @default { maxAttempts: 3, initialBackoffMs: 50, maxBackoffMs: 1000 } */
  retry?: Partial<RetryPolicy>;
  /** grpc-js channel options, applied over the client's defaults (e.g. `grpc.max_receive_message_length`). */
  channelOptions?: ChannelOptions;
}

/** {@link InferenceClientOptions} validated, with every default filled in. */
export interface ResolvedClientOptions {
  readonly address: string;
  readonly tls: Readonly<TlsOptions> | undefined;
  readonly token: string | undefined;
  readonly deadlineMs: number;
  readonly loadDeadlineMs: number;
  readonly retry: RetryPolicy;
  readonly channelOptions: ChannelOptions;
}

/** An inference on a local sidecar takes milliseconds; ten seconds catches a hung server, not a slow model. */
export const DEFAULT_DEADLINE_MS = 10_000;
/** Loading compiles the model into a runtime session, which takes tens of seconds for large models. */
export const DEFAULT_LOAD_DEADLINE_MS = 120_000;
/** Three attempts ride out a sidecar restart or a briefly full queue without multiplying load for long. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** A sidecar on the same host recovers in tens of milliseconds; a short first wait keeps tail latency low. */
export const DEFAULT_INITIAL_BACKOFF_MS = 50;
/** Capped well inside the default deadline so the last attempt still has time to run. */
export const DEFAULT_MAX_BACKOFF_MS = 1_000;
/** Batched outputs outgrow gRPC's 4 MiB receive default quickly; 64 MiB still bounds a runaway response. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024;

const USER_AGENT = "sluice-client/0.1.0";

// A gRPC target with a scheme (unix:, dns:, ipv4:, ipv6:) is passed through; otherwise host:port.
const SCHEME_TARGET = /^(unix|unix-abstract|dns|ipv4|ipv6):/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;
// Metadata values must be printable ASCII; a token with a newline would also be a header injection.
const TOKEN = /^[\x21-\x7e]+$/;

/** Validates options and fills in defaults; throws INVALID_ARGUMENT naming the option at fault. */
export function resolveClientOptions(options: InferenceClientOptions): ResolvedClientOptions {
  const address = resolveAddress(options.address);
  const tls = resolveTls(options.tls);
  if (options.token !== undefined && !TOKEN.test(options.token)) {
    throw invalid(
      `token: expected printable ASCII without spaces, got ${describeToken(options.token)}`,
    );
  }
  const retry = options.retry ?? {};
  const maxAttempts = retry.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw invalid(`retry.maxAttempts: expected an integer >= 1, got ${String(maxAttempts)}`);
  }
  const initialBackoffMs = nonNegative(
    "retry.initialBackoffMs",
    retry.initialBackoffMs,
    DEFAULT_INITIAL_BACKOFF_MS,
  );
  const maxBackoffMs = nonNegative(
    "retry.maxBackoffMs",
    retry.maxBackoffMs,
    Math.max(DEFAULT_MAX_BACKOFF_MS, initialBackoffMs),
  );
  if (maxBackoffMs < initialBackoffMs) {
    throw invalid(
      `retry.maxBackoffMs: expected at least retry.initialBackoffMs (${initialBackoffMs}), got ${maxBackoffMs}`,
    );
  }
  const channelOptions: ChannelOptions = {
    "grpc.max_receive_message_length": DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    "grpc.primary_user_agent": USER_AGENT,
    ...(tls?.serverName === undefined
      ? {}
      : {
          "grpc.ssl_target_name_override": tls.serverName,
          "grpc.default_authority": tls.serverName,
        }),
    ...options.channelOptions,
  };
  return {
    address,
    tls,
    token: options.token,
    deadlineMs: positiveDeadline("deadlineMs", options.deadlineMs, DEFAULT_DEADLINE_MS),
    loadDeadlineMs: positiveDeadline(
      "loadDeadlineMs",
      options.loadDeadlineMs,
      DEFAULT_LOAD_DEADLINE_MS,
    ),
    retry: { maxAttempts, initialBackoffMs, maxBackoffMs },
    channelOptions,
  };
}

/** Checks a per-call or default deadline: a positive, finite number of milliseconds. */
export function positiveDeadline(
  path: string,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalid(`${path}: expected a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function resolveAddress(address: unknown): string {
  if (typeof address !== "string" || address.length === 0) {
    throw invalid(
      `address: expected "host:port" such as "127.0.0.1:8001", got ${JSON.stringify(address)}`,
    );
  }
  if (SCHEME_TARGET.test(address)) return address;
  const match = HOST_PORT.exec(address);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535) {
    throw invalid(
      `address: expected "host:port" such as "127.0.0.1:8001", got ${JSON.stringify(address)}`,
    );
  }
  return address;
}

function resolveTls(tls: TlsOptions | undefined): Readonly<TlsOptions> | undefined {
  if (tls === undefined) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    const given = tls.cert === undefined ? "tls.key" : "tls.cert";
    const missing = tls.cert === undefined ? "tls.cert" : "tls.key";
    throw invalid(`${missing}: required with ${given} for mutual TLS, got only ${given}`);
  }
  for (const field of ["ca", "cert", "key"] as const) {
    const value = tls[field];
    if (value !== undefined && !(typeof value === "string" || Buffer.isBuffer(value))) {
      throw invalid(
        `tls.${field}: expected PEM file contents as a Buffer or string, got ${typeof value}`,
      );
    }
    if (value !== undefined && value.length === 0) {
      throw invalid(
        `tls.${field}: expected PEM file contents, got an empty ${typeof value === "string" ? "string" : "Buffer"}`,
      );
    }
  }
  if (
    tls.serverName !== undefined &&
    (typeof tls.serverName !== "string" || tls.serverName.length === 0)
  ) {
    throw invalid(`tls.serverName: expected a host name, got ${JSON.stringify(tls.serverName)}`);
  }
  // RFC 6066 allows only host names as the TLS server name; an IP address is checked without one.
  if (tls.serverName !== undefined && isIP(tls.serverName) !== 0) {
    throw invalid(
      `tls.serverName: expected a host name, got the IP address "${tls.serverName}" (connect to that address instead: its certificate is checked against it)`,
    );
  }
  return { ...tls };
}

function nonNegative(path: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalid(`${path}: expected a non-negative number of milliseconds, got ${String(value)}`);
  }
  return value;
}

// Never echo a credential into an error message or a log.
function describeToken(token: unknown): string {
  if (typeof token !== "string") return typeof token;
  return token.length === 0
    ? "an empty string"
    : `${token.length} characters including whitespace or non-ASCII`;
}

function invalid(message: string): InferenceError {
  return InferenceError.invalidArgument(message);
}
