/** Messages between the main thread and an ONNX Runtime worker (see onnx-worker.ts), both ways. */
import type { NumericData } from "@sluice/proto";
import type { RuntimeOptions } from "./model-runtime.js";

export type OrtType =
  | "bool"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "float16"
  | "float32"
  | "float64"
  | "string";

/** A tensor crossing the thread boundary; numeric data owns its whole buffer so it can be transferred. */
export interface WireTensor {
  readonly type: OrtType;
  readonly dims: readonly number[];
  readonly data: NumericData | Uint8Array[];
}

export interface WorkerInit {
  readonly modelPath: string;
  readonly options: RuntimeOptions;
  /** ONNX Runtime's own log severity for the session and its runs: 0 verbose … 4 fatal. */
  readonly logSeverityLevel: OrtLogSeverity;
}

/** ONNX Runtime's log severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. */
export type OrtLogSeverity = 0 | 1 | 2 | 3 | 4;

export interface WireValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

export type WorkerRequest =
  | {
      readonly kind: "run";
      readonly id: number;
      readonly feeds: Record<string, WireTensor>;
      readonly outputNames: readonly string[];
    }
  | { readonly kind: "release" };

export type WorkerReply =
  | {
      readonly kind: "loaded";
      readonly inputs: WireValueMetadata[];
      readonly outputs: WireValueMetadata[];
    }
  | { readonly kind: "load-failed"; readonly message: string }
  | {
      readonly kind: "result";
      readonly id: number;
      readonly outputs: Record<string, WireTensor>;
      /** Time inside session.run, for the compute statistics. */
      readonly computeMs: number;
    }
  | { readonly kind: "error"; readonly id: number; readonly message: string }
  | { readonly kind: "released" };

/**
 * `data` ready to cross the thread boundary: an array that owns its whole buffer goes as it is, a
 * view into a larger buffer (a request's bytes, possibly Node's shared pool) is copied first, since
 * transferring would detach memory others still use. The buffer to transfer is added to `transfer`.
 */
export function transferable(data: NumericData, transfer: ArrayBuffer[]): NumericData {
  const whole =
    data.buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength;
  const owned = whole ? data : data.slice();
  transfer.push(owned.buffer as ArrayBuffer);
  return owned;
}
