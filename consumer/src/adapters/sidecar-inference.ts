/** The `Inference` port over `@sluice/client`: KServe V2 gRPC to a Sluice (or Triton) sidecar. */
import { InferenceClient, InferenceError, status, type NumericData } from "@sluice/client";
import { ConsumerError } from "../errors.js";
import type {
  Inference,
  InferRequest,
  InferResponse,
  ModelDescription,
  OutputTensor,
} from "../ports/inference.js";

/**
 * grpc-js waits up to two minutes between reconnects to a server that went away; a pipeline
 * waiting out a sidecar restart should use it again within a couple of seconds.
 */
export const DEFAULT_MAX_RECONNECT_BACKOFF_MS = 2_000;
/** Metadata and config calls at start: a sidecar still loading its models gets this long. */
export const DEFAULT_DESCRIBE_DEADLINE_MS = 10_000;

/**
 * Statuses that blame the request, so a smaller batch without the bad event would pass. Anything
 * else is about the sidecar (down, overloaded, out of time, model unloaded mid-stream): the same
 * batch may pass later, and dead-lettering it would lose good events.
 */
const REJECTING: ReadonlySet<status> = new Set([status.INVALID_ARGUMENT, status.OUT_OF_RANGE]);

export class SidecarInference implements Inference {
  readonly #client: InferenceClient;

  /** `address` is `host:port`. */
  constructor(address: string) {
    this.#client = new InferenceClient({
      address,
      deadlineMs: DEFAULT_DESCRIBE_DEADLINE_MS,
      channelOptions: {
        "grpc.max_reconnect_backoff_ms": DEFAULT_MAX_RECONNECT_BACKOFF_MS,
        "grpc.initial_reconnect_backoff_ms": 100,
      },
    });
  }

  async describe(model: string, version: number | string | undefined): Promise<ModelDescription> {
    try {
      const metadata = await this.#client.modelMetadata(model, version);
      const maxBatchSize = await this.#client.modelConfig(model, version).then(
        (config) => config.maxBatchSize,
        // The config call is Triton's extension: a server without it still serves the model.
        () => undefined,
      );
      return {
        name: metadata.name,
        versions: metadata.versions,
        inputs: metadata.inputs,
        outputs: metadata.outputs,
        maxBatchSize,
      };
    } catch (error) {
      throw toConsumerError(error);
    }
  }

  async infer(request: InferRequest): Promise<InferResponse> {
    try {
      const result = await this.#client.infer(
        request.model,
        [
          {
            name: request.input,
            datatype: "FP32",
            shape: [request.count, request.width],
            data: request.rows,
          },
        ],
        {
          version: request.version,
          outputs: request.outputs,
          deadlineMs: request.deadlineMs,
        },
      );
      const outputs = new Map<string, OutputTensor>();
      for (const [name, tensor] of result.outputs) {
        // Scores are numbers; a BYTES output (an explanation, say) is not the pipeline's to read.
        if (tensor.datatype === "BYTES") continue;
        outputs.set(name, {
          datatype: tensor.datatype,
          shape: tensor.shape,
          data: tensor.data as NumericData,
        });
      }
      return { modelVersion: result.modelVersion, outputs };
    } catch (error) {
      throw toConsumerError(error);
    }
  }

  close(): void {
    this.#client.close();
  }
}

function toConsumerError(error: unknown): ConsumerError {
  const failure = InferenceError.from(error);
  if (REJECTING.has(failure.status)) {
    return new ConsumerError(
      "inference_rejected",
      `sidecar rejected the batch: ${failure.message}`,
      {
        cause: failure,
        retryable: false,
      },
    );
  }
  return new ConsumerError("inference_unavailable", `sidecar: ${failure.message}`, {
    cause: failure,
    retryable: true,
  });
}
