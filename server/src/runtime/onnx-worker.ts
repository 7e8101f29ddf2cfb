/**
 * One model instance: a worker thread owning one ONNX Runtime session.
 *
 * onnxruntime-node loads models and runs them synchronously on the calling thread. On the main
 * thread that would stall every gRPC call for the length of each batch and of each model load, so
 * each instance lives here and talks to the main thread by messages; tensors move as transferred
 * ArrayBuffers, never copied between threads.
 */
import { parentPort, workerData } from "node:worker_threads";
import ort from "onnxruntime-node";
import type { NumericData } from "@sluice/proto";
import {
  transferable,
  type WireTensor,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./worker-protocol.js";

const port = parentPort;
if (port === null) throw new Error("onnx-worker must run in a worker thread");

const init = workerData as WorkerInit;
const utf8 = new TextDecoder("utf-8");

// onnxruntime-node 1.30 reads every float16 tensor as empty ("not enough space: expected 8, got
// 0"), Uint16Array or Float16Array alike, once the runtime defines Float16Array (Node.js 24;
// upstream microsoft/onnxruntime#32323). It looks the global up when a tensor is made, and this
// thread holds nothing but the session, so it goes: FP16 elements stay raw 16-bit words
// (Uint16Array) here as on the wire. The protocol tests' FP16 round trips pin it.
delete (globalThis as { Float16Array?: unknown }).Float16Array;

function toOrt(tensor: WireTensor): ort.Tensor {
  if (tensor.type === "string") {
    const strings = (tensor.data as Uint8Array[]).map((bytes) => utf8.decode(bytes));
    return new ort.Tensor("string", strings, tensor.dims);
  }
  return new ort.Tensor(tensor.type, tensor.data as ort.Tensor.DataType, tensor.dims);
}

/** An output as a wire tensor, plus the buffers to transfer back (whole buffers only). */
function fromOrt(value: ort.OnnxValue, transfer: ArrayBuffer[]): WireTensor {
  const dims = value.dims.map(Number);
  if (value.type === "string") {
    return {
      type: "string",
      dims,
      data: (value.data as string[]).map((text) => Buffer.from(text, "utf8")),
    };
  }
  const data = transferable(value.data as NumericData, transfer);
  return { type: value.type as WireTensor["type"], dims, data };
}

let session: ort.InferenceSession | undefined;

async function handle(message: WorkerRequest): Promise<void> {
  switch (message.kind) {
    case "run": {
      try {
        if (session === undefined) throw new Error("the model is not loaded");
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, tensor] of Object.entries(message.feeds)) feeds[name] = toOrt(tensor);
        const started = performance.now();
        const results = await session.run(feeds, message.outputNames, {
          logSeverityLevel: init.logSeverityLevel,
        });
        const computeMs = performance.now() - started;
        const transfer: ArrayBuffer[] = [];
        const outputs: Record<string, WireTensor> = {};
        for (const name of message.outputNames) {
          const value = results[name];
          if (value === undefined) throw new Error(`the model returned no output "${name}"`);
          outputs[name] = fromOrt(value, transfer);
        }
        const reply: WorkerReply = { kind: "result", id: message.id, outputs, computeMs };
        port!.postMessage(reply, transfer);
      } catch (error) {
        const reply: WorkerReply = {
          kind: "error",
          id: message.id,
          message: (error as Error).message,
        };
        port!.postMessage(reply);
      }
      return;
    }
    case "release": {
      await session?.release();
      session = undefined;
      port!.postMessage({ kind: "released" } satisfies WorkerReply);
      return;
    }
  }
}

try {
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: init.options.graphOptimizationLevel,
    executionMode: init.options.interOpThreads > 1 ? "parallel" : "sequential",
    ...(init.options.intraOpThreads > 0 ? { intraOpNumThreads: init.options.intraOpThreads } : {}),
    ...(init.options.interOpThreads > 0 ? { interOpNumThreads: init.options.interOpThreads } : {}),
    // Spinning intra-op threads burn a core between runs; on a sidecar that core belongs to the
    // gRPC event loop and to the consumer beside it.
    extra: { session: { intra_op: { allow_spinning: init.options.allowSpinning ? "1" : "0" } } },
    // ONNX Runtime writes its log to stderr from native code, past our JSON log; a failed run's
    // error comes back to us as the exception's message anyway (see OnnxRuntime's options).
    logSeverityLevel: init.logSeverityLevel,
  };
  session = await ort.InferenceSession.create(init.modelPath, options);
  const describe = (metadata: readonly ort.InferenceSession.ValueMetadata[]) =>
    metadata.map((value) =>
      value.isTensor
        ? { name: value.name, isTensor: true as const, type: value.type, shape: [...value.shape] }
        : { name: value.name, isTensor: false as const, type: "", shape: [] },
    );
  port.postMessage({
    kind: "loaded",
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
  } satisfies WorkerReply);
} catch (error) {
  port.postMessage({
    kind: "load-failed",
    message: (error as Error).message,
  } satisfies WorkerReply);
}

// Runs one message at a time, in arrival order: the main thread may queue a second execution while
// the first runs, and each one's compute time must be its own, not the wait for the previous one.
let queue: Promise<void> = Promise.resolve();
port.on("message", (message: WorkerRequest) => {
  // handle() answers every run itself; a failed release still lets the thread be terminated.
  queue = queue.then(() => handle(message)).catch(() => undefined);
});
