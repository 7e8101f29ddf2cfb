/**
 * Scores feature rows with ONE ModelInfer call per micro-batch. When the sidecar rejects a batch
 * (INVALID_ARGUMENT), some row in it is at fault: the batch is split in halves, recursively, so
 * the offending rows are found in O(k log n) calls and every other row is still scored.
 */
import { ConsumerError } from "../errors.js";
import type { Inference, OutputTensor } from "../ports/inference.js";
import type { ModelBinding } from "./model-binding.js";

export interface Score {
  /** The version that answered. */
  readonly modelVersion: string;
  readonly label: number;
  /** One probability per class. */
  readonly probabilities: readonly number[];
  /** With a rollout: the arm that sent the row to this version. */
  readonly arm?: string;
}

export type ScoreOutcome =
  | { readonly ok: true; readonly score: Score }
  | { readonly ok: false; readonly error: ConsumerError };

function malformed(message: string): ConsumerError {
  // The sidecar broke the protocol: a bug there, not something a retry or the DLQ can fix.
  return new ConsumerError("internal", `malformed inference response: ${message}`, {
    retryable: false,
  });
}

function output(outputs: ReadonlyMap<string, OutputTensor>, name: string): OutputTensor {
  const tensor = outputs.get(name);
  if (tensor === undefined) {
    throw malformed(`expected output "${name}", got ${[...outputs.keys()].join(", ") || "none"}`);
  }
  return tensor;
}

export class Scorer {
  readonly #inference: Inference;
  readonly #binding: ModelBinding;
  readonly #deadlineMs: number;
  readonly #outputs: readonly string[];
  readonly #bisect: boolean;

  /**
   * `bisect: false` makes a rejected batch fail as a whole, in one call: for a shadow, whose
   * failures are counted, never isolated. @default true
   */
  constructor(inference: Inference, binding: ModelBinding, deadlineMs: number, bisect = true) {
    this.#inference = inference;
    this.#binding = binding;
    this.#deadlineMs = deadlineMs;
    this.#bisect = bisect;
    this.#outputs =
      binding.label === undefined
        ? [binding.probabilities]
        : [binding.probabilities, binding.label];
  }

  /**
   * One outcome per row. Rejects (retryably) when the sidecar is unavailable: the caller retries
   * the whole micro-batch later.
   */
  async score(rows: Float32Array, count: number): Promise<ScoreOutcome[]> {
    const outcomes = new Array<ScoreOutcome>(count);
    if (count > 0) await this.#isolate(rows, 0, count, outcomes);
    return outcomes;
  }

  async #isolate(
    rows: Float32Array,
    start: number,
    count: number,
    outcomes: ScoreOutcome[],
  ): Promise<void> {
    const width = this.#binding.width;
    try {
      const scores = await this.#infer(
        rows.subarray(start * width, (start + count) * width),
        count,
      );
      scores.forEach((score, i) => (outcomes[start + i] = { ok: true, score }));
    } catch (error) {
      const failure = ConsumerError.from(error);
      if (failure.code !== "inference_rejected" || !this.#bisect) throw failure;
      if (count === 1) {
        outcomes[start] = { ok: false, error: failure };
        return;
      }
      const half = Math.ceil(count / 2);
      await this.#isolate(rows, start, half, outcomes);
      await this.#isolate(rows, start + half, count - half, outcomes);
    }
  }

  async #infer(rows: Float32Array, count: number): Promise<Score[]> {
    const { model, version, input, width, probabilities, label } = this.#binding;
    const response = await this.#inference.infer({
      model,
      version,
      input,
      rows,
      count,
      width,
      outputs: this.#outputs,
      deadlineMs: this.#deadlineMs,
    });
    const probs = output(response.outputs, probabilities);
    const classes = probs.shape[1] ?? 0;
    if (probs.shape.length !== 2 || probs.shape[0] !== count || classes < 1) {
      throw malformed(
        `expected "${probabilities}" of shape [${count}, classes], got [${probs.shape.join(", ")}]`,
      );
    }
    const labels = label === undefined ? undefined : output(response.outputs, label);
    if (labels !== undefined && labels.data.length !== count) {
      throw malformed(`expected ${count} values of "${label}", got ${labels.data.length}`);
    }
    const scores: Score[] = [];
    for (let row = 0; row < count; row++) {
      const p: number[] = [];
      for (let c = 0; c < classes; c++) p.push(Number(probs.data[row * classes + c]));
      const argmax = p.reduce((best, value, c) => (value > (p[best] ?? -Infinity) ? c : best), 0);
      scores.push({
        modelVersion: response.modelVersion,
        label: labels === undefined ? argmax : Number(labels.data[row]),
        probabilities: p,
      });
    }
    return scores;
  }
}
