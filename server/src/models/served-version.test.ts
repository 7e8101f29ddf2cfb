import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { INVALID_SPAN_CONTEXT, trace } from "@opentelemetry/api";
import type { Tensor } from "@sluice/proto";
import type { BatchExecution, ObservedRequest } from "../observability/observer.js";
import { resolveModelConfig } from "../repository/model-config.js";
import type { LoadedModel, ModelRuntime, RunResult, TensorSpec } from "../runtime/model-runtime.js";
import { ModelError } from "./model-error.js";
import { ServedVersion, type InferJob } from "./served-version.js";

/** One run of a fake instance: the rows of its input, and the instance that ran it. */
interface Run {
  readonly instance: number;
  readonly shape: readonly number[];
  readonly values: number[];
}

/**
 * A runtime whose model doubles its FP32 input `x` into output `y` (same shape). `inputShape`
 * declares x and y; `run` may be replaced to misbehave.
 */
class FakeRuntime implements ModelRuntime {
  readonly platform = "fake";
  readonly runs: Run[] = [];
  released = 0;
  loads = 0;
  /** Held runs wait for `release()`; the warm-up is never held. */
  hold = false;
  #held: (() => void)[] = [];
  outputRows: ((rows: number) => number) | undefined;

  constructor(readonly inputShape: readonly number[] = [-1, 2]) {}

  releaseHeld(): void {
    for (const resume of this.#held.splice(0)) resume();
  }

  load(): Promise<LoadedModel> {
    const instance = this.loads++;
    const spec = (name: string): TensorSpec => ({ name, datatype: "FP32", shape: this.inputShape });
    return Promise.resolve({
      inputs: [spec("x")],
      outputs: [spec("y")],
      run: async (feeds) => {
        const x = feeds.get("x")!;
        const values = [...(x.data as Float32Array)];
        if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve));
        this.runs.push({ instance, shape: x.shape, values });
        const rows = this.outputRows?.(x.shape[0]!) ?? x.shape[0]!;
        const perRow = values.length / Math.max(x.shape[0]!, 1);
        const y: Tensor = {
          datatype: "FP32",
          shape: [rows, ...x.shape.slice(1)],
          data: Float32Array.from({ length: rows * perRow }, (_, i) => (values[i] ?? 0) * 2),
        };
        return { outputs: new Map([["y", y]]), computeMs: 1 } satisfies RunResult;
      },
      release: () => {
        this.released++;
        return Promise.resolve();
      },
    });
  }
}

const observed = (): ObservedRequest => ({
  receivedAt: performance.now(),
  span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT),
});

function job(rows: number[][]): InferJob {
  const width = rows[0]?.length ?? 0;
  return {
    inputs: new Map([
      ["x", { datatype: "FP32", shape: [rows.length, width], data: new Float32Array(rows.flat()) }],
    ]),
    rows: rows.length,
    outputNames: ["y"],
    request: observed(),
  };
}

function load(
  runtime: ModelRuntime,
  config: object,
  batches: BatchExecution[] = [],
): Promise<ServedVersion> {
  return ServedVersion.load(
    runtime,
    "m",
    1,
    "/repo/m/1/model.onnx",
    resolveModelConfig("m", config, "m/config.yaml"),
    { batchExecuted: (batch) => batches.push(batch) },
  );
}

/** Three rows: with one more they fill a batch. */
const THREE_ROWS = [
  [3, 4],
  [5, 6],
  [7, 8],
];

/** Batches of up to 4 rows, waiting up to a second for a full one. */
const BATCHING = { max_batch_size: 4, dynamic_batching: { max_queue_delay_microseconds: 1e6 } };

describe("ServedVersion", () => {
  test("concurrent requests run as one batch, and each gets its own rows back as views", async () => {
    const runtime = new FakeRuntime();
    const batches: BatchExecution[] = [];
    const served = await load(runtime, { ...BATCHING, warmup: false }, batches);
    const [a, b] = await Promise.all([
      served.submit(job([[1, 2]])),
      served.submit(job(THREE_ROWS)),
    ]);
    assert.deepEqual(runtime.runs, [
      { instance: 0, shape: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8] },
    ]);
    const ya = a.outputs.get("y")!;
    const yb = b.outputs.get("y")!;
    assert.deepEqual(ya.shape, [1, 2]);
    assert.deepEqual(ya.data, new Float32Array([2, 4]));
    assert.deepEqual(yb.shape, [3, 2]);
    assert.deepEqual(yb.data, new Float32Array([6, 8, 10, 12, 14, 16]));
    assert.equal(
      (ya.data as Float32Array).buffer,
      (yb.data as Float32Array).buffer,
      "views of one run",
    );
    assert.equal(a.batchRows, 4);

    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.rows, 4);
    assert.deepEqual(
      batches[0]!.requests.map((r) => r.rows),
      [1, 3],
    );
    assert.equal(served.statistics.executionCount, 1);
    assert.equal(served.statistics.inferenceCount, 4);
    assert.equal(served.statistics.success.count, 2);
  });

  test("requests whose non-batch dimensions differ run one after another, not concatenated", async () => {
    const runtime = new FakeRuntime([-1, -1]);
    const served = await load(runtime, { ...BATCHING, warmup: false });
    runtime.hold = true;
    const blocker = served.submit(job([[0, 0, 0, 0]]));
    await new Promise((resolve) => setImmediate(resolve));
    const pending = [
      served.submit(job([[1, 1]])),
      served.submit(job([[2, 2, 2]])),
      served.submit(job([[3, 3]])),
    ];
    runtime.hold = false;
    runtime.releaseHeld();
    await Promise.all([blocker, ...pending]);
    assert.deepEqual(
      runtime.runs.map((run) => run.shape),
      [
        [1, 4],
        [2, 2],
        [1, 3],
      ],
    );
  });

  test("warms every instance up at every batch size, or at the sizes the config names", async () => {
    const every = new FakeRuntime();
    await load(every, { max_batch_size: 3, instance_count: 2 });
    assert.deepEqual(
      every.runs.map((run) => [run.instance, run.shape[0]]),
      [
        [0, 1],
        [1, 1],
        [0, 2],
        [1, 2],
        [0, 3],
        [1, 3],
      ],
    );
    assert.deepEqual(every.runs[0]!.values, [0, 0], "zeros");
    const named = new FakeRuntime();
    await load(named, { max_batch_size: 8, warmup: { batch_sizes: [2, 8] } });
    assert.deepEqual(
      named.runs.map((run) => run.shape),
      [
        [2, 2],
        [8, 2],
      ],
    );
  });

  test("a config that contradicts the model fails the load and releases the instances", async () => {
    const fixed = new FakeRuntime([1, 2]);
    await assert.rejects(load(fixed, { max_batch_size: 4 }), (error: unknown) => {
      assert.ok(error instanceof ModelError);
      assert.equal(error.code, "invalid_config");
      assert.match(
        error.message,
        /max_batch_size 4 needs a dynamic first dimension on every input and output, but "x" has shape \[1, 2\]; set max_batch_size: 0/,
      );
      return true;
    });
    assert.equal(fixed.released, fixed.loads);
    const narrowing = new FakeRuntime();
    await assert.rejects(load(narrowing, { inputs: [{ name: "w", dims: [2] }] }), {
      code: "invalid_config",
      message: /config inputs: "w" is not an input of the model \(it has "x"\)/,
    });
    await assert.rejects(load(narrowing, { inputs: [{ name: "x", dims: [3] }] }), {
      message: /config input "x": dims \[3\] contradict the model's \[2\]/,
    });
  });

  test("a warm-up that fails fails the load with the reason", async () => {
    const runtime = new FakeRuntime();
    runtime.outputRows = () => {
      throw new Error("out of memory");
    };
    await assert.rejects(load(runtime, BATCHING), {
      code: "load_failed",
      message: "warm-up with batch size 1 failed: out of memory",
    });
    assert.equal(runtime.released, 1);
  });

  test("an output without one row per input row fails the batch's requests, saying so", async () => {
    const runtime = new FakeRuntime();
    const served = await load(runtime, { ...BATCHING, warmup: false });
    runtime.outputRows = (rows) => rows - 1;
    const results = await Promise.allSettled([
      served.submit(job([[1, 2]])),
      served.submit(job(THREE_ROWS)),
    ]);
    for (const result of results) {
      assert.ok(result.status === "rejected");
      assert.match(
        String(result.reason),
        /output "y": expected 4 rows along the batch dimension, got shape \[3, 2\]/,
      );
    }
  });

  test("retiring lets queued requests finish on the version, refuses new ones, then releases it", async () => {
    const runtime = new FakeRuntime();
    const served = await load(runtime, { ...BATCHING, warmup: false });
    runtime.hold = true;
    const queued = served.submit(job([[1, 1]]));
    const retired = served.retire();
    await assert.rejects(served.submit(job([[2, 2]])), {
      code: "closed",
      message: 'model "m" version 1 is draining: it accepts no new requests',
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runtime.released, 0, "not while a request runs");
    runtime.releaseHeld();
    assert.deepEqual((await queued).outputs.get("y")!.data, new Float32Array([2, 2]));
    await retired;
    assert.equal(runtime.released, 1);
  });
});
