/**
 * Per-version counters in the shape of Triton's ModelStatistics extension: request outcomes with
 * their durations, queue and compute time, and compute time per executed batch size.
 */

export interface Duration {
  count: number;
  ns: bigint;
}

export interface BatchSizeStatistics {
  readonly computeInput: Duration;
  readonly computeInfer: Duration;
  readonly computeOutput: Duration;
}

function duration(): Duration {
  return { count: 0, ns: 0n };
}

function add(target: Duration, ms: number, count = 1): void {
  target.count += count;
  target.ns += BigInt(Math.round(ms * 1e6));
}

export class VersionStatistics {
  /** Rows that completed. */
  inferenceCount = 0;
  /** Batches executed. */
  executionCount = 0;
  /** Milliseconds since the epoch of the last completed request (0 = none yet). */
  lastInference = 0;
  readonly success = duration();
  readonly fail = duration();
  readonly queue = duration();
  readonly computeInput = duration();
  readonly computeInfer = duration();
  readonly computeOutput = duration();
  readonly batches = new Map<number, BatchSizeStatistics>();

  recordBatch(rows: number, inputMs: number, inferMs: number, outputMs: number): void {
    this.executionCount += 1;
    let stats = this.batches.get(rows);
    if (stats === undefined) {
      stats = { computeInput: duration(), computeInfer: duration(), computeOutput: duration() };
      this.batches.set(rows, stats);
    }
    add(stats.computeInput, inputMs);
    add(stats.computeInfer, inferMs);
    add(stats.computeOutput, outputMs);
  }

  /** A request that ran in a batch: its share of the batch's compute is counted once per request. */
  recordSuccess(
    rows: number,
    totalMs: number,
    queueMs: number,
    inputMs: number,
    inferMs: number,
    outputMs: number,
  ): void {
    this.inferenceCount += rows;
    this.lastInference = Date.now();
    add(this.success, totalMs);
    add(this.queue, queueMs);
    add(this.computeInput, inputMs);
    add(this.computeInfer, inferMs);
    add(this.computeOutput, outputMs);
  }

  recordFailure(totalMs: number): void {
    add(this.fail, totalMs);
  }
}
