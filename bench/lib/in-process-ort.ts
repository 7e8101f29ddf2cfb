/**
 * The compute ceiling: onnxruntime-node on the benchmark's main thread, no gRPC, no batcher, no
 * worker hop. The session is created with the options the sidecar's worker derives from the same
 * config.yaml (server/src/runtime/onnx-worker.ts and repository/model-config.ts), so the only
 * difference from a sidecar execution is everything around `session.run`.
 */
import { readFile } from "node:fs/promises";
import ort from "onnxruntime-node";
import { parse as parseYaml } from "yaml";
import { FEATURE_COUNT, featureRows } from "./fraud-requests.js";

/** Runs before the timed ones: first runs allocate the session's buffers for a shape. */
const WARMUP_RUNS = 10;

interface OrtConfig {
  intra_op_threads?: number;
  inter_op_threads?: number;
  graph_optimization_level?: "disabled" | "basic" | "extended" | "all";
  allow_spinning?: boolean;
}

/** The session options the sidecar uses for a model with this config.yaml (its defaults included). */
export async function sidecarSessionOptions(
  configPath: string,
): Promise<ort.InferenceSession.SessionOptions> {
  const config = (parseYaml(await readFile(configPath, "utf8")) ?? {}) as {
    onnxruntime?: OrtConfig;
  };
  const intra = config.onnxruntime?.intra_op_threads ?? 0;
  const inter = config.onnxruntime?.inter_op_threads ?? 0;
  return {
    graphOptimizationLevel: config.onnxruntime?.graph_optimization_level ?? "all",
    executionMode: inter > 1 ? "parallel" : "sequential",
    ...(intra > 0 ? { intraOpNumThreads: intra } : {}),
    ...(inter > 0 ? { interOpNumThreads: inter } : {}),
    extra: {
      session: { intra_op: { allow_spinning: config.onnxruntime?.allow_spinning ? "1" : "0" } },
    },
  };
}

export interface OrtPoint {
  readonly batchSize: number;
  readonly runs: number;
  readonly rowsPerSecond: number;
  /** Mean wall time of one `session.run` (what a sidecar execution of this size costs at best). */
  readonly msPerRun: number;
}

/** rows/s of `session.run` at each batch size, each measured for `durationMs` after a warm-up. */
export async function measureInProcess(
  modelPath: string,
  configPath: string,
  batchSizes: readonly number[],
  durationMs: number,
): Promise<OrtPoint[]> {
  const session = await ort.InferenceSession.create(
    modelPath,
    await sidecarSessionOptions(configPath),
  );
  try {
    const points: OrtPoint[] = [];
    for (const batchSize of batchSizes) {
      const feeds = {
        features: new ort.Tensor("float32", featureRows(batchSize, batchSize), [
          batchSize,
          FEATURE_COUNT,
        ]),
      };
      for (let i = 0; i < WARMUP_RUNS; i++) await session.run(feeds);
      let runs = 0;
      let busyMs = 0;
      const started = performance.now();
      while (performance.now() - started < durationMs) {
        const before = performance.now();
        await session.run(feeds);
        busyMs += performance.now() - before;
        runs++;
      }
      const seconds = (performance.now() - started) / 1000;
      points.push({
        batchSize,
        runs,
        rowsPerSecond: (runs * batchSize) / seconds,
        msPerRun: busyMs / runs,
      });
    }
    return points;
  } finally {
    await session.release();
  }
}
