/**
 * The pipeline's view of the inference sidecar: read a model's metadata, run one batch. The
 * pipeline never sees gRPC; `adapters/sidecar-inference.ts` implements it over `@sluice/client`.
 *
 * Failures are ConsumerErrors: `inference_rejected` (not retryable) when the sidecar refused the
 * request itself, so some event in it is at fault; `inference_unavailable` (retryable) when the
 * sidecar could not be reached, was overloaded, or ran out of time.
 */

export interface TensorInfo {
  readonly name: string;
  readonly datatype: string;
  /** -1 for a dimension of variable size. */
  readonly shape: readonly number[];
}

export interface ModelDescription {
  readonly name: string;
  readonly versions: readonly string[];
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Largest batch the model accepts, when the server says (0: no batch dimension). */
  readonly maxBatchSize: number | undefined;
}

export interface InferRequest {
  readonly model: string;
  readonly version: number | string | undefined;
  readonly input: string;
  /** `count` rows of `width` FP32 values, row-major. */
  readonly rows: Float32Array;
  readonly count: number;
  readonly width: number;
  /** Outputs to return. */
  readonly outputs: readonly string[];
  readonly deadlineMs: number;
}

export interface OutputTensor {
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

export interface InferResponse {
  /** The version that answered (a label resolves to a number). */
  readonly modelVersion: string;
  readonly outputs: ReadonlyMap<string, OutputTensor>;
}

export interface Inference {
  describe(model: string, version: number | string | undefined): Promise<ModelDescription>;
  infer(request: InferRequest): Promise<InferResponse>;
  close(): void;
}
