/**
 * A closed-loop load generator: `concurrency` loops, each sending its next request as soon as the
 * previous one answered, so exactly that many requests are in flight. A warm-up phase runs first and
 * is not recorded; the measured window then counts every request answered inside it (throughput and
 * latency alike), and the requests still in flight when it closes are awaited but not counted.
 */
import { LatencyRecorder, type LatencySummary } from "./latency.js";

export interface ClosedLoopOptions {
  /** Requests in flight at any time. */
  readonly concurrency: number;
  /** Load before the measured window (JIT, connections, batcher steady state). */
  readonly warmupMs: number;
  /** Length of the measured window. */
  readonly durationMs: number;
  /** Sends one request of loop `loop`; resolves when it is answered, rejects when it failed. */
  readonly send: (loop: number) => Promise<void>;
  /** Called when the measured window opens and when it closes (e.g. to read server counters). */
  readonly onWindow?: (edge: "start" | "end") => void;
}

export interface LoadResult {
  readonly concurrency: number;
  /** Requests answered inside the window. */
  readonly completed: number;
  /** Requests that failed during warm-up or the window. */
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
}

/** Runs the load; resolves once every loop has its last request answered. */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  const startsAt = performance.now() + options.warmupMs;
  const endsAt = startsAt + options.durationMs;
  const fired = new Set<"start" | "end">();
  const edge = (which: "start" | "end") => {
    if (fired.has(which)) return;
    fired.add(which);
    options.onWindow?.(which);
  };
  const timers = [
    setTimeout(() => edge("start"), options.warmupMs),
    setTimeout(() => edge("end"), options.warmupMs + options.durationMs),
  ];
  let failed = 0;
  let firstError: string | undefined;

  const loop = async (index: number): Promise<void> => {
    while (performance.now() < endsAt) {
      const sentAt = performance.now();
      try {
        await options.send(index);
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
        // A failing server answers at once: back off a little instead of spinning on it.
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      const answeredAt = performance.now();
      if (answeredAt >= startsAt && answeredAt <= endsAt) latency.record(answeredAt - sentAt);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
  } finally {
    // The last answer can beat the end timer by a fraction of a millisecond: the caller still gets both edges.
    for (const timer of timers) clearTimeout(timer);
    edge("start");
    edge("end");
  }

  const seconds = options.durationMs / 1000;
  return {
    concurrency: options.concurrency,
    completed: latency.count,
    failed,
    firstError,
    seconds,
    requestsPerSecond: latency.count / seconds,
    latency: latency.summary(),
  };
}
