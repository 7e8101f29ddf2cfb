/** Runs `sluice produce` (bench/servers/event-source.ts) in a child process and waits for its result. */
import { startChild } from "../lib/child.js";

export interface EventSourceSettings {
  readonly brokers: readonly string[];
  readonly redisUrl: string;
  readonly topic: string;
  /** Either a steady rate (events/s) for a duration… */
  readonly rate?: number;
  readonly durationMs?: number;
  /** …or a backlog of this many events, sent as fast as the broker takes them. */
  readonly count?: number;
  /** In every event id (`tx-<runId>-<n>`) and user id, so outputs can be told apart by phase. */
  readonly runId: string;
  readonly users: number;
}

export interface EventSourceResult {
  /** Epoch ms of the first send: the first events' `timestamp`. */
  readonly startedAt: number;
  readonly produced: number;
}

export interface EventSource {
  readonly pid: number;
  /** When the child said it started (epoch ms, before connecting and writing the users' homes). */
  readonly readyAt: number;
  readonly result: Promise<EventSourceResult>;
}

/** Starts producing; `result` resolves once the child has sent everything and exited. */
export async function startEventSource(
  settings: EventSourceSettings,
  verbose: boolean,
): Promise<EventSource> {
  let resolve!: (result: EventSourceResult) => void;
  let reject!: (error: Error) => void;
  const result = new Promise<EventSourceResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const child = await startChild<Record<string, never>>(
    "bench/servers/event-source.ts",
    [JSON.stringify(settings)],
    {
      verbose,
      onLine: (line) => {
        if (line.startsWith('{"benchResult"'))
          resolve((JSON.parse(line) as { benchResult: EventSourceResult }).benchResult);
      },
    },
  );
  const readyAt = Date.now();
  void child.exited.then((code) => {
    // The result line may still be in the pipe when the exit is seen: a moment's grace for it.
    setTimeout(
      () =>
        reject(
          new Error(
            `event source for ${settings.topic}: expected a result line, got exit code ${code} without one (run with --verbose for its output)`,
          ),
        ),
      1_000,
    ).unref();
  });
  return {
    pid: child.pid,
    readyAt,
    result,
  };
}
