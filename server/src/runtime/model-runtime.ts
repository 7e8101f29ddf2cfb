/**
 * The port between the server and whatever executes models. The batcher and the gRPC layer see
 * only these types; ONNX Runtime lives behind them in one file (onnx-runtime.ts), so another
 * runtime could be added without touching the rest.
 */
import type { Datatype, Tensor } from "@sluice/proto";

export type { Tensor };

/** A named tensor's type and shape as the model declares it; -1 marks a dynamic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

export interface RuntimeOptions {
  /** Threads for one operator; 0 = the runtime's default (all cores). */
  readonly intraOpThreads: number;
  /** Threads across independent operators; 0 = the runtime's default. */
  readonly interOpThreads: number;
  readonly graphOptimizationLevel: "disabled" | "basic" | "extended" | "all";
  /** Let idle intra-op threads spin for the next run (lower latency, one core burnt). */
  readonly allowSpinning: boolean;
}

export interface RunResult {
  readonly outputs: Map<string, Tensor>;
  /** Time the runtime spent computing, without queueing or transfer. */
  readonly computeMs: number;
}

export interface LoadedModel {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /**
   * Runs the model once; resolves to the requested outputs by name. The feeds' numeric data is
   * handed over (it may be transferred to another thread): callers must not use it afterwards.
   */
  run(feeds: ReadonlyMap<string, Tensor>, outputNames: readonly string[]): Promise<RunResult>;
  /** Frees the model's memory; no run may be in flight or follow. */
  release(): Promise<void>;
}

export interface ModelRuntime {
  /** The platform name reported in metadata and config (Triton's name for it). */
  readonly platform: string;
  load(modelPath: string, options: RuntimeOptions): Promise<LoadedModel>;
}
