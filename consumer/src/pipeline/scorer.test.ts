import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerError } from "../errors.js";
import type { Inference, InferRequest, InferResponse } from "../ports/inference.js";
import type { ModelBinding } from "./model-binding.js";
import { Scorer } from "./scorer.js";

const binding: ModelBinding = {
  model: "m",
  version: undefined,
  input: "x",
  width: 2,
  probabilities: "probabilities",
  label: "label",
};

/** A sidecar that rejects any batch holding a row whose first value is negative. */
class FakeSidecar implements Inference {
  readonly batches: number[] = [];
  unavailable = false;
  describe(): never {
    throw new Error("not used");
  }
  infer(request: InferRequest): Promise<InferResponse> {
    this.batches.push(request.count);
    if (this.unavailable) {
      return Promise.reject(new ConsumerError("inference_unavailable", "down"));
    }
    const probabilities = new Float32Array(request.count * 2);
    const labels = new BigInt64Array(request.count);
    for (let i = 0; i < request.count; i++) {
      const x = request.rows[i * 2]!;
      if (x < 0) {
        return Promise.reject(
          new ConsumerError("inference_rejected", `row ${i}: negative`, { retryable: false }),
        );
      }
      probabilities[i * 2] = 1 - x;
      probabilities[i * 2 + 1] = x;
      labels[i] = x > 0.5 ? 1n : 0n;
    }
    return Promise.resolve({
      modelVersion: "3",
      outputs: new Map([
        ["probabilities", { datatype: "FP32", shape: [request.count, 2], data: probabilities }],
        ["label", { datatype: "INT64", shape: [request.count], data: labels }],
      ]),
    });
  }
  close(): void {}
}

function rows(values: number[]): Float32Array {
  return Float32Array.from(values.flatMap((x) => [x, 0]));
}

describe("Scorer", () => {
  it("scores a batch in one call", async () => {
    const sidecar = new FakeSidecar();
    const outcomes = await new Scorer(sidecar, binding, 1000).score(rows([0.25, 0.75]), 2);
    assert.deepEqual(sidecar.batches, [2]);
    assert.deepEqual(
      outcomes.map((o) =>
        o.ok ? [o.score.label, o.score.modelVersion, o.score.probabilities] : o,
      ),
      [
        [0, "3", [0.75, 0.25]],
        [1, "3", [0.25, 0.75]],
      ],
    );
  });

  it("bisects a rejected batch down to the offending rows and scores the rest", async () => {
    const sidecar = new FakeSidecar();
    const values = Array.from({ length: 16 }, (_, i) => (i === 5 || i === 11 ? -1 : i / 16));
    const outcomes = await new Scorer(sidecar, binding, 1000).score(rows(values), 16);
    const failed = outcomes.flatMap((o, i) => (o.ok ? [] : [i]));
    assert.deepEqual(failed, [5, 11]);
    for (const i of failed) {
      const outcome = outcomes[i]!;
      assert.ok(!outcome.ok && outcome.error.code === "inference_rejected");
    }
    assert.equal(outcomes.filter((o) => o.ok).length, 14);
    // log2(16) levels for each of the two bad rows, far fewer than one call per row.
    assert.ok(sidecar.batches.length <= 1 + 2 * 2 * 4, `${sidecar.batches.length} calls`);
  });

  it("rejects the whole batch, retryably, when the sidecar is unavailable", async () => {
    const sidecar = new FakeSidecar();
    sidecar.unavailable = true;
    await assert.rejects(new Scorer(sidecar, binding, 1000).score(rows([0.1, 0.2]), 2), {
      code: "inference_unavailable",
      retryable: true,
    });
  });
});
