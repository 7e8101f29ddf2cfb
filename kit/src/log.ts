/**
 * One log format for every Sluice process: pino, one JSON object per line on stderr, with the level
 * as its name and the time as ISO 8601 (`{"level":"info","time":"2026-…","name":"sluice-consumer",
 * "msg":"…",…}`), so `sluice serve` and `sluice consume` read the same to a person and to a log
 * collector. stdout stays free for what a command prints (results, tables).
 */
import { pino, type DestinationStream } from "pino";

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What Sluice's modules log through: pino's calling convention, fields first, then the message. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** The process's role, in every line (`sluice-server`, `sluice-consumer`). */
  readonly name: string;
  /** Least severe level written. @default "info" */
  readonly level?: LogLevel | undefined;
  /** Where lines go. @default stderr, written synchronously so the last lines survive an exit */
  readonly destination?: DestinationStream | undefined;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** Drops everything: for tests and embedding, where the caller watches the component's figures. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
