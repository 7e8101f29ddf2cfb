/** Where the pipeline reports what happens: one function, so any logger plugs in. */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type PipelineLog = (
  level: LogLevel,
  message: string,
  fields?: Readonly<Record<string, unknown>>,
) => void;

/** Drops everything: for tests and embedding, where the caller watches the pipeline's stats. */
export const silentLog: PipelineLog = () => {};

/**
 * One JSON object per line on stderr (`{"level":"warn","time":…,"msg":…,…}`), at `minLevel`
 * and above. @default minLevel "info"
 */
export function jsonLinesLog(
  minLevel: LogLevel = "info",
  write: (line: string) => void = (line) => process.stderr.write(line),
): PipelineLog {
  const min = LOG_LEVELS.indexOf(minLevel);
  return (level, message, fields = {}) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    write(
      `${JSON.stringify({ level, time: new Date().toISOString(), msg: message, ...fields })}\n`,
    );
  };
}
