/** How a handler answers a unary call: with its response, or with the status its failure maps to. */
import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { toInferenceError } from "./status-mapping.js";

/** Runs `work` and answers the call; a failure goes out as its status with `details` alone. */
export function reply<T>(callback: sendUnaryData<T>, work: () => Promise<T> | T): void {
  Promise.resolve()
    .then(work)
    .then(
      (response) => callback(null, response),
      (error: unknown) => {
        const failure = toInferenceError(error);
        callback({ code: failure.status, details: failure.details });
      },
    );
}

/** The call's deadline in performance.now() milliseconds, or undefined when it has none. */
export function callDeadline(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? performance.now() + (at - Date.now()) : undefined;
}
