/** A served version's statistics as Triton's ModelStatistics message. */
import type { ModelStatistics } from "@sluice/proto";
import type { ServedVersion } from "../models/served-version.js";
import type { Duration } from "../models/version-statistics.js";

function durationMessage(duration: Duration) {
  return { count: BigInt(duration.count), ns: duration.ns };
}

export function statisticsMessage(served: ServedVersion): Omit<ModelStatistics, "$typeName"> {
  const s = served.statistics;
  return {
    name: served.model,
    version: String(served.version),
    lastInference: BigInt(s.lastInference),
    inferenceCount: BigInt(s.inferenceCount),
    executionCount: BigInt(s.executionCount),
    inferenceStats: {
      success: durationMessage(s.success),
      fail: durationMessage(s.fail),
      queue: durationMessage(s.queue),
      computeInput: durationMessage(s.computeInput),
      computeInfer: durationMessage(s.computeInfer),
      computeOutput: durationMessage(s.computeOutput),
    },
    batchStats: [...s.batches.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([size, b]) => ({
        batchSize: BigInt(size),
        computeInput: durationMessage(b.computeInput),
        computeInfer: durationMessage(b.computeInfer),
        computeOutput: durationMessage(b.computeOutput),
      })),
    memoryUsage: [],
    responseStats: {},
  } as never;
}
