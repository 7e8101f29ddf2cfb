/**
 * ONNX Runtime behind the ModelRuntime port: every loaded model is a worker thread that owns one
 * session (onnx-worker.ts), so loads and runs never block the event loop serving gRPC.
 */
import type { Worker } from "node:worker_threads";
import { startWorker, workerModuleUrl } from "@sluice/kit";
import type { Datatype, NumericData } from "@sluice/proto";
import type {
  LoadedModel,
  ModelRuntime,
  RunResult,
  RuntimeOptions,
  Tensor,
  TensorSpec,
} from "./model-runtime.js";
import {
  transferable,
  type OrtLogSeverity,
  type OrtType,
  type WireTensor,
  type WireValueMetadata,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./worker-protocol.js";

const ORT_TYPE: Record<Datatype, OrtType> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
};
const DATATYPE = new Map<string, Datatype>(
  Object.entries(ORT_TYPE).map(([datatype, ort]) => [ort, datatype as Datatype]),
);

const WORKER_URL = workerModuleUrl("onnx-worker", import.meta.url);

function specsOf(
  metadata: readonly WireValueMetadata[],
  kind: string,
  modelPath: string,
): TensorSpec[] {
  return metadata.map((value) => {
    if (!value.isTensor) {
      throw new Error(
        `${kind} "${value.name}" of ${modelPath}: expected a tensor, got a sequence or map (export classifiers without ZipMap)`,
      );
    }
    const datatype = DATATYPE.get(value.type);
    if (datatype === undefined) {
      throw new Error(
        `${kind} "${value.name}" of ${modelPath}: ONNX type ${value.type} is not supported`,
      );
    }
    // Symbolic ("batch", "N") and unknown dimensions are dynamic.
    const shape = value.shape.map((dim) => (typeof dim === "number" && dim >= 0 ? dim : -1));
    return { name: value.name, datatype, shape };
  });
}

/** The feed as it crosses to the worker: numeric data must own its buffer exactly to be transferred. */
function toWire(tensor: Tensor, transfer: ArrayBuffer[]): WireTensor {
  if (tensor.datatype === "BYTES") {
    return { type: "string", dims: tensor.shape, data: tensor.data as Uint8Array[] };
  }
  const data = transferable(tensor.data as NumericData, transfer);
  return { type: ORT_TYPE[tensor.datatype], dims: tensor.shape, data };
}

function fromWire(name: string, tensor: WireTensor): Tensor {
  const datatype = DATATYPE.get(tensor.type);
  if (datatype === undefined)
    throw new Error(`output "${name}": ONNX type ${tensor.type} is not supported`);
  return { datatype, shape: tensor.dims, data: tensor.data };
}

interface Pending {
  resolve(result: RunResult): void;
  reject(error: Error): void;
}

class WorkerModel implements LoadedModel {
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();
  #failure: Error | undefined;
  #released: Promise<void> | undefined;
  readonly #worker: Worker;

  constructor(
    worker: Worker,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {
    this.#worker = worker;
    worker.on("message", (reply: WorkerReply) => {
      if (reply.kind !== "result" && reply.kind !== "error") return;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.kind === "error") {
        pending.reject(new Error(reply.message));
        return;
      }
      const outputs = new Map<string, Tensor>();
      for (const [outputName, tensor] of Object.entries(reply.outputs)) {
        outputs.set(outputName, fromWire(outputName, tensor));
      }
      pending.resolve({ outputs, computeMs: reply.computeMs });
    });
    // A crashed worker fails what it was running and every later run, with the reason.
    const fail = (error: Error) => {
      this.#failure ??= error;
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the model's worker thread exited (code ${code})`)));
  }

  run(feeds: ReadonlyMap<string, Tensor>, outputNames: readonly string[]): Promise<RunResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const transfer: ArrayBuffer[] = [];
    const wireFeeds: Record<string, WireTensor> = {};
    for (const [name, tensor] of feeds) wireFeeds[name] = toWire(tensor, transfer);
    const id = this.#nextId++;
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: WorkerRequest = { kind: "run", id, feeds: wireFeeds, outputNames };
      this.#worker.postMessage(request, transfer);
    });
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      if (this.#failure === undefined) {
        const done = new Promise<void>((resolve) => {
          const onMessage = (reply: WorkerReply) => {
            if (reply.kind !== "released") return;
            this.#worker.off("message", onMessage);
            resolve();
          };
          this.#worker.on("message", onMessage);
          this.#worker.once("exit", () => resolve());
        });
        this.#worker.postMessage({ kind: "release" } satisfies WorkerRequest);
        await done;
      }
      await this.#worker.terminate();
    })();
    return this.#released;
  }
}

export interface OnnxRuntimeOptions {
  /**
   * The least severe line of ONNX Runtime's own log that reaches stderr. Its lines are not JSON
   * and duplicate what matters: a failed load or run comes back as an error whose message the
   * sidecar logs and answers with. @default 4 (fatal only); `sluice serve --log-level debug`
   * shows its warnings (2), `trace` its info lines (1).
   */
  readonly logSeverityLevel?: OrtLogSeverity;
}

/** Only fatal lines: everything else reaches the caller as an error message, once. */
export const DEFAULT_ORT_LOG_SEVERITY: OrtLogSeverity = 4;

/** ONNX Runtime's log severity that goes with the sidecar's log level. */
export function ortLogSeverity(logLevel: string): OrtLogSeverity {
  if (logLevel === "trace") return 1;
  if (logLevel === "debug") return 2;
  return DEFAULT_ORT_LOG_SEVERITY;
}

export class OnnxRuntime implements ModelRuntime {
  readonly platform = "onnxruntime_onnx";
  readonly #logSeverityLevel: OrtLogSeverity;

  constructor(options: OnnxRuntimeOptions = {}) {
    this.#logSeverityLevel = options.logSeverityLevel ?? DEFAULT_ORT_LOG_SEVERITY;
  }

  async load(modelPath: string, options: RuntimeOptions): Promise<LoadedModel> {
    const init: WorkerInit = { modelPath, options, logSeverityLevel: this.#logSeverityLevel };
    const worker = startWorker(WORKER_URL, { workerData: init });
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      const onExit = (code: number) =>
        reject(new Error(`the model's worker thread exited (code ${code}) while loading`));
      worker.once("error", onError);
      worker.once("exit", onExit);
      worker.once("message", (message: WorkerReply) => {
        worker.off("error", onError);
        worker.off("exit", onExit);
        resolve(message);
      });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    if (reply.kind !== "loaded") {
      await worker.terminate();
      throw new Error(
        reply.kind === "load-failed"
          ? reply.message
          : `unexpected reply "${reply.kind}" from the model's worker`,
      );
    }
    try {
      return new WorkerModel(
        worker,
        specsOf(reply.inputs, "input", modelPath),
        specsOf(reply.outputs, "output", modelPath),
      );
    } catch (error) {
      await worker.terminate();
      throw error;
    }
  }
}
