/** The sidecar's options: one interface, one function that validates them and fills the defaults. */
import { LOG_LEVELS, isLogLevel, type LogLevel } from "@sluice/kit";
import { MODEL_CONTROL_MODES, type ModelControlMode } from "./models/model-control.js";

/** Triton's gRPC port, so its users and clients find the sidecar where they expect it. */
export const DEFAULT_GRPC_PORT = 8001;
/** Triton's metrics port. */
export const DEFAULT_METRICS_PORT = 8002;
/** Loopback: a sidecar serves the process beside it; listening wider is a deliberate `--host 0.0.0.0`. */
export const DEFAULT_HOST = "127.0.0.1";
/** Triton's default rescan interval in poll mode. */
export const DEFAULT_POLL_SECS = 15;
/** Largest gRPC message: room for a 256-row batch of wide float tensors, small enough to bound memory per call. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface TlsFiles {
  /** PEM certificate chain of the server. */
  readonly cert: Buffer;
  /** PEM private key of the server. */
  readonly key: Buffer;
  /** PEM CA bundle that client certificates must chain to; set it to require mutual TLS. */
  readonly clientCa?: Buffer | undefined;
}

export interface SidecarOptions {
  /** Folder holding `<model>/<version>/model.onnx`. */
  readonly modelRepository: string;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** 0 picks a free port. @default 8001 */
  readonly grpcPort?: number;
  /** 0 picks a free port; -1 turns the metrics endpoint off. @default 8002 */
  readonly metricsPort?: number;
  /** @default "none" (load everything at start, never change) */
  readonly modelControlMode?: ModelControlMode;
  /** Rescan interval in poll mode. @default 15 */
  readonly repositoryPollSecs?: number;
  /** Models to load at start in explicit mode; "*" loads all. @default [] */
  readonly loadModels?: readonly string[];
  /** Serve TLS (mutual TLS when clientCa is set). @default plaintext */
  readonly tls?: TlsFiles | undefined;
  /** Bearer token the repository load/unload RPCs require. @default none */
  readonly adminToken?: string | undefined;
  /** @default 64 MiB */
  readonly maxMessageBytes?: number;
  /** Least severe level logged: debug, info, warn, error or silent ("trace" means debug). @default "info" */
  readonly logLevel?: string;
}

export interface ResolvedSidecarOptions {
  readonly modelRepository: string;
  readonly host: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly modelControlMode: ModelControlMode;
  readonly repositoryPollSecs: number;
  readonly loadModels: readonly string[];
  readonly tls: TlsFiles | undefined;
  readonly adminToken: string | undefined;
  readonly maxMessageBytes: number;
  readonly logLevel: LogLevel;
}

/**
 * pino's "trace" is accepted for the sidecars and scripts that pass it: the server logs nothing
 * below debug, so it shows the same lines as "debug".
 */
function logLevel(value: string): LogLevel {
  const level = value === "trace" ? "debug" : value;
  if (!isLogLevel(level)) {
    throw new RangeError(`logLevel: expected one of ${LOG_LEVELS.join(", ")}, got "${value}"`);
  }
  return level;
}

function port(name: string, value: number, allowOff: boolean): number {
  const min = allowOff ? -1 : 0;
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw new RangeError(`${name}: expected an integer port from ${min} to 65535, got ${value}`);
  }
  return value;
}

export function resolveSidecarOptions(options: SidecarOptions): ResolvedSidecarOptions {
  if (!options.modelRepository)
    throw new RangeError("modelRepository: expected a folder, got nothing");
  const mode = options.modelControlMode ?? "none";
  if (!MODEL_CONTROL_MODES.includes(mode)) {
    throw new RangeError(
      `modelControlMode: expected one of ${MODEL_CONTROL_MODES.join(", ")}, got "${String(mode)}"`,
    );
  }
  const pollSecs = options.repositoryPollSecs ?? DEFAULT_POLL_SECS;
  if (!(pollSecs > 0))
    throw new RangeError(`repositoryPollSecs: expected a positive number, got ${pollSecs}`);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1024) {
    throw new RangeError(
      `maxMessageBytes: expected an integer of at least 1024, got ${maxMessageBytes}`,
    );
  }
  if (options.adminToken !== undefined && options.adminToken.length < 8) {
    throw new RangeError(
      `adminToken: expected at least 8 characters, got ${options.adminToken.length}`,
    );
  }
  return {
    modelRepository: options.modelRepository,
    host: options.host ?? DEFAULT_HOST,
    grpcPort: port("grpcPort", options.grpcPort ?? DEFAULT_GRPC_PORT, false),
    metricsPort: port("metricsPort", options.metricsPort ?? DEFAULT_METRICS_PORT, true),
    modelControlMode: mode,
    repositoryPollSecs: pollSecs,
    loadModels: options.loadModels ?? [],
    tls: options.tls,
    adminToken: options.adminToken,
    maxMessageBytes,
    logLevel: logLevel(options.logLevel ?? "info"),
  };
}
