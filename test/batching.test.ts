/**
 * The dynamic batcher seen from a gRPC client, against real ONNX Runtime: rows of concurrent requests
 * share one execution and are split back to the right caller, the queue delay bounds a lone request's
 * wait, max_queue_size sheds load with RESOURCE_EXHAUSTED, deadlines and the `timeout` parameter drop
 * requests before they run, priorities reorder the queue, instance_count runs batches side by side,
 * and a model with batching off runs every request alone.
 *
 * The fixture models compute in well under a millisecond per row, too fast to keep an instance busy
 * for a predictable time. Where a test needs requests to wait, it holds them in the queue with a
 * queue delay no test outlives (HOLD_QUEUE_MICROS) and releases them by filling the batch (or by
 * cancelling one), waiting on the server's own pending count between steps. Assertions are about
 * orders and counts; the few that read a clock (the 100 ms queue delay, the 100 ms `timeout`, a
 * 2-row batch finishing while a 16383-row one still computes) leave margins of many times over.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import type { ModelInferResponse } from "@sluice/proto";
import type { Sidecar } from "@sluice/server";
import {
  executionsBySize,
  f32,
  FIXTURE_MODELS,
  fp32Request,
  HOLD_QUEUE_MICROS,
  makeRepository,
  modelStatistics,
  pendingRequests,
  ProtocolClient,
  readMetric,
  rowValue,
  startInfer,
  startTestSidecar,
  statusOf,
  type TestRepository,
  waitFor,
  writeModelConfig,
} from "@sluice/testing";

const IDENTITY = join(FIXTURE_MODELS, "identity-fp32");
const SLOW = join(FIXTURE_MODELS, "slow-fp32");
const HOLD = `max_queue_delay_microseconds: ${HOLD_QUEUE_MICROS}`;

function instancesConfig(instances: number): string {
  return [
    "max_batch_size: 16384",
    `instance_count: ${instances}`,
    `dynamic_batching: { ${HOLD}, preferred_batch_sizes: [2] }`,
    "warmup: { batch_sizes: [1] }",
    "onnxruntime: { intra_op_threads: 1 }",
    "",
  ].join("\n");
}

/** Every model of this file: a fixture under a new name, with the config the test needs. */
const MODELS: Record<string, { source: string; config: string }> = {
  collect: { source: IDENTITY, config: `max_batch_size: 8\ndynamic_batching: { ${HOLD} }\n` },
  "split-identity": {
    source: IDENTITY,
    config: "max_batch_size: 64\ndynamic_batching: { max_queue_delay_microseconds: 20000 }\n",
  },
  "split-slow": {
    source: SLOW,
    config:
      "max_batch_size: 64\ndynamic_batching: { max_queue_delay_microseconds: 20000 }\nwarmup: { batch_sizes: [1, 64] }\n",
  },
  "slow-reference": {
    source: SLOW,
    config: "max_batch_size: 64\ndynamic_batching: false\nwarmup: { batch_sizes: [1] }\n",
  },
  delayed: {
    source: IDENTITY,
    config: "max_batch_size: 8\ndynamic_batching: { max_queue_delay_microseconds: 100000 }\n",
  },
  bounded: {
    source: IDENTITY,
    config: `max_batch_size: 8\ndynamic_batching: { ${HOLD}, max_queue_size: 4 }\n`,
  },
  deadline: { source: IDENTITY, config: `max_batch_size: 8\ndynamic_batching: { ${HOLD} }\n` },
  timeout: { source: IDENTITY, config: `max_batch_size: 8\ndynamic_batching: { ${HOLD} }\n` },
  "timeout-prompt": {
    source: IDENTITY,
    config: `max_batch_size: 8\ndynamic_batching: { ${HOLD} }\n`,
  },
  priority: {
    source: IDENTITY,
    config: `max_batch_size: 4\ndynamic_batching: { ${HOLD}, priority_levels: 2 }\n`,
  },
  // 16383 rows of slow-fp32 take tens of milliseconds, 2 rows a fraction of one: which finishes
  // first shows whether the small batch waited for the big one.
  "two-instances": { source: SLOW, config: instancesConfig(2) },
  "one-instance": { source: SLOW, config: instancesConfig(1) },
  unbatched: { source: IDENTITY, config: "max_batch_size: 8\ndynamic_batching: false\n" },
};

let repository: TestRepository;
let sidecar: Sidecar;
let client: ProtocolClient;

before(async () => {
  repository = await makeRepository(
    Object.fromEntries(Object.entries(MODELS).map(([name, m]) => [name, m.source])),
  );
  for (const [name, m] of Object.entries(MODELS))
    await writeModelConfig(repository.dir, name, m.config);
  sidecar = await startTestSidecar({ modelRepository: repository.dir });
  client = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`, undefined, {
    // A response of 16383 rows × 64 floats is just over the default 4 MiB limit.
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
  });
});

after(async () => {
  client?.close();
  await sidecar?.close();
  await repository?.remove();
});

const pending = (model: string) => pendingRequests(sidecar.metricsPort, model);

/** The rows a caller sent, as the identity model must return them. */
function expectedRows(caller: number, rows: number, width = 4): number[] {
  return Array.from({ length: rows * width }, (_, i) =>
    Math.fround(rowValue(caller, Math.floor(i / width), i % width)),
  );
}

function outputRows(response: ModelInferResponse): number {
  return Number(response.outputs[0]?.shape[0] ?? -1);
}

describe("batching concurrent requests", () => {
  it("runs 8 concurrent single-row requests as one execution of 8 rows", async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, caller) => client.infer(fp32Request("collect", 1, { caller }))),
    );
    responses.forEach((response, caller) => {
      assert.deepEqual(response.outputs[0]?.shape.map(Number), [1, 4]);
      assert.deepEqual([...f32(response.rawOutputContents[0])], expectedRows(caller, 1));
    });
    const stats = await modelStatistics(client, "collect");
    assert.equal(stats.executionCount, 1n);
    assert.equal(stats.inferenceCount, 8n);
    assert.deepEqual(executionsBySize(stats), { 8: 1 });
    const labels = { model: "collect", version: "1" };
    assert.equal(
      await readMetric(sidecar.metricsPort, "sluice_inference_batch_size_count", labels),
      1,
    );
    assert.equal(
      await readMetric(sidecar.metricsPort, "sluice_inference_batch_size_sum", labels),
      8,
    );
  });

  it("splits concatenated outputs back to each of 32 concurrent callers exactly", async () => {
    const rowsOf = (caller: number) => 1 + (caller % 5);
    const responses = await Promise.all(
      Array.from({ length: 32 }, (_, caller) =>
        client.infer(fp32Request("split-identity", rowsOf(caller), { caller })),
      ),
    );
    responses.forEach((response, caller) => {
      assert.deepEqual(
        response.outputs[0]?.shape.map(Number),
        [rowsOf(caller), 4],
        `caller ${caller}`,
      );
      assert.deepEqual(
        [...f32(response.rawOutputContents[0])],
        expectedRows(caller, rowsOf(caller)),
        `caller ${caller}`,
      );
    });
    const stats = await modelStatistics(client, "split-identity");
    assert.equal(
      Number(stats.inferenceCount),
      responses.reduce((sum, r) => sum + outputRows(r), 0),
    );
    assert.ok(
      stats.executionCount < 32n,
      `expected requests to share executions, got ${stats.executionCount} for 32 requests`,
    );
  });

  it("returns each caller the slow-fp32 outputs of its own rows when batched with others", async () => {
    const rowsOf = (caller: number) => 1 + ((caller * 7) % 4);
    const request = (model: string, caller: number) =>
      fp32Request(model, rowsOf(caller), { caller, width: 64 });
    // What each caller's rows give when they run alone (batching off), one request at a time.
    const alone: Float32Array[] = [];
    for (let caller = 0; caller < 32; caller++) {
      alone.push(f32((await client.infer(request("slow-reference", caller))).rawOutputContents[0]));
    }
    const batched = await Promise.all(
      Array.from({ length: 32 }, (_, caller) => client.infer(request("split-slow", caller))),
    );
    batched.forEach((response, caller) => {
      const got = f32(response.rawOutputContents[0]);
      const want = alone[caller]!;
      assert.deepEqual(
        response.outputs[0]?.shape.map(Number),
        [rowsOf(caller), 64],
        `caller ${caller}`,
      );
      // Rows are independent, but a GEMM over more rows may round differently in the last bits.
      const worst = got.reduce(
        (max, v, i) => Math.max(max, Math.abs(v - want[i]!) / Math.max(1, Math.abs(want[i]!))),
        0,
      );
      assert.ok(
        worst < 1e-4,
        `caller ${caller}: outputs differ from its rows run alone by ${worst}`,
      );
    });
    const stats = await modelStatistics(client, "split-slow");
    assert.ok(
      stats.executionCount < 32n,
      `expected requests to share executions, got ${stats.executionCount} for 32 requests`,
    );
  });
});

describe("queue delay", () => {
  it("holds a lone request for max_queue_delay_microseconds (100 ms), not much longer", async () => {
    const started = performance.now();
    const response = await client.infer(fp32Request("delayed", 1));
    const elapsed = performance.now() - started;
    assert.deepEqual([...f32(response.rawOutputContents[0])], expectedRows(0, 1));
    // Timers may fire a hair early against performance.now(); the wait itself was ~100 ms.
    assert.ok(
      elapsed >= 95,
      `answered after ${elapsed.toFixed(1)} ms, before the 100 ms queue delay`,
    );
    assert.ok(
      elapsed < 1000,
      `answered after ${elapsed.toFixed(1)} ms, far past the 100 ms queue delay`,
    );
    const stats = await modelStatistics(client, "delayed");
    assert.ok(
      Number(stats.inferenceStats?.queue?.ns ?? 0n) / 1e6 >= 95,
      "the server counts the delay as queue time",
    );
  });
});

describe("max_queue_size", () => {
  it("refuses the request over the limit with RESOURCE_EXHAUSTED naming it, then serves again", async () => {
    const queued = Array.from({ length: 4 }, (_, caller) =>
      startInfer(client, fp32Request("bounded", 1, { caller })),
    );
    await waitFor("4 queued requests", async () => (await pending("bounded")) === 4);

    const refused = await statusOf(client.infer(fp32Request("bounded", 1, { caller: 9 })));
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED, refused.details);
    assert.match(refused.details, /max_queue_size 4/);
    assert.match(refused.details, /"bounded"/);

    // A caller that gives up frees its place in the queue.
    queued[3]!.cancel();
    assert.equal((await statusOf(queued[3]!.response)).code, status.CANCELLED);
    await waitFor(
      "the cancelled request to leave the queue",
      async () => (await pending("bounded")) === 3,
    );

    // 3 queued rows + 5 fill the batch of 8: everything queued runs, the new request included.
    const filler = await client.infer(fp32Request("bounded", 5, { caller: 7 }));
    assert.deepEqual([...f32(filler.rawOutputContents[0])], expectedRows(7, 5));
    for (const [caller, call] of queued.slice(0, 3).entries()) {
      assert.deepEqual(
        [...f32((await call.response).rawOutputContents[0])],
        expectedRows(caller, 1),
      );
    }
    const stats = await modelStatistics(client, "bounded");
    assert.equal(stats.inferenceCount, 8n, "the refused and the cancelled request never ran");
    assert.equal(stats.executionCount, 1n);
  });
});

describe("deadlines", () => {
  it("fails a request whose gRPC deadline passes in the queue with DEADLINE_EXCEEDED, and never runs it", async () => {
    const started = performance.now();
    const expired = await statusOf(
      client.infer(fp32Request("deadline", 1, { caller: 1 }), { deadlineMs: 200 }),
    );
    assert.equal(expired.code, status.DEADLINE_EXCEEDED, expired.details);
    assert.ok(performance.now() - started < 5000);
    // It leaves the queue when its caller's deadline passes: it no longer counts against the queue.
    await waitFor(
      "the expired request to leave the queue",
      async () => (await pending("deadline")) === 0,
    );

    const full = await client.infer(fp32Request("deadline", 8, { caller: 2 }));
    assert.deepEqual([...f32(full.rawOutputContents[0])], expectedRows(2, 8));
    const stats = await modelStatistics(client, "deadline");
    assert.equal(stats.inferenceCount, 8n, "only the 8 rows of the full batch ran");
    assert.equal(stats.executionCount, 1n);
    assert.deepEqual(executionsBySize(stats), { 8: 1 });
  });

  it("never runs a request whose `timeout` parameter (µs) passed while it was queued", async () => {
    const expiring = startInfer(
      client,
      fp32Request("timeout", 1, { caller: 1, timeoutMicros: 100_000 }),
    );
    await waitFor("the request to queue", async () => (await pending("timeout")) === 1);
    // Past its 100 ms timeout, whenever the server notices.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const full = await client.infer(fp32Request("timeout", 8, { caller: 2 }));
    assert.deepEqual([...f32(full.rawOutputContents[0])], expectedRows(2, 8));
    const expired = await statusOf(expiring.response);
    assert.equal(expired.code, status.DEADLINE_EXCEEDED, expired.details);
    assert.match(
      expired.details,
      /model "timeout" version 1 missed its deadline by .* it was not run/,
    );
    const stats = await modelStatistics(client, "timeout");
    assert.equal(stats.inferenceCount, 8n, "only the 8 rows of the full batch ran");
    assert.deepEqual(executionsBySize(stats), { 8: 1 });
  });

  it("answers a request whose `timeout` passes in the queue when it passes, not when its batch would go", async () => {
    const started = performance.now();
    // The gRPC deadline only bounds the test: the server must answer first, at the 100 ms timeout.
    const expired = await statusOf(
      client.infer(fp32Request("timeout-prompt", 1, { caller: 1, timeoutMicros: 100_000 }), {
        deadlineMs: 3000,
      }),
    );
    const elapsed = performance.now() - started;
    assert.equal(expired.code, status.DEADLINE_EXCEEDED, expired.details);
    assert.match(expired.details, /model "timeout-prompt" version 1 missed its deadline/);
    assert.ok(elapsed >= 95, `answered after ${elapsed.toFixed(1)} ms, before the 100 ms timeout`);
    assert.ok(elapsed < 2000, `answered after ${elapsed.toFixed(1)} ms for a 100 ms timeout`);
    assert.equal(await pending("timeout-prompt"), 0);
  });
});

describe("priorities", () => {
  /** Starts a request and records when it completes, in `order`. */
  function tracked(order: string[], name: string, rows: number, priority?: number) {
    const call = startInfer(
      client,
      fp32Request("priority", rows, { caller: name.charCodeAt(0), priority }),
    );
    return call.response.then((response) => {
      order.push(name);
      return response;
    });
  }

  it("runs a later priority-1 request before an earlier queued priority-2 one", async () => {
    const order: string[] = [];
    // 3 of 4 rows: held, waiting for its batch to fill.
    const early = tracked(order, "early-p2", 3, 2);
    await waitFor("the priority-2 request to queue", async () => (await pending("priority")) === 1);
    // 3 more rows do not fit beside it; level 1 is served first, so the late one runs on its own.
    const late = await tracked(order, "late-p1", 3, 1);
    assert.equal(outputRows(late), 3);
    assert.deepEqual(order, ["late-p1"]);
    assert.equal(await pending("priority"), 1, "the earlier priority-2 request is still queued");
    // One more priority-2 row fills its batch.
    await Promise.all([early, tracked(order, "filler-p2", 1, 2)]);
    assert.deepEqual(order.slice(0, 1), ["late-p1"]);
    assert.deepEqual(order.slice(1).sort(), ["early-p2", "filler-p2"]);
  });

  it("keeps arrival order between requests of the same level (no priority = the lowest level)", async () => {
    const order: string[] = [];
    const early = tracked(order, "early-p2", 3, 2);
    await waitFor("the priority-2 request to queue", async () => (await pending("priority")) === 1);
    // Same level: the earlier request is at the head, the later one does not fit beside it.
    const late = tracked(order, "late-none", 3);
    assert.equal(outputRows(await early), 3);
    await waitFor("the later request to wait alone", async () => (await pending("priority")) === 1);
    assert.deepEqual(order, ["early-p2"]);
    await Promise.all([late, tracked(order, "filler-p2", 1, 2)]);
    assert.deepEqual(order[0], "early-p2");
  });

  it("refuses a priority beyond priority_levels", async () => {
    const refused = await statusOf(client.infer(fp32Request("priority", 1, { priority: 3 })));
    assert.equal(refused.code, status.INVALID_ARGUMENT);
    assert.match(refused.details, /parameter "priority": expected 1\.\.2, got 3/);
  });
});

describe("instances", () => {
  /**
   * Holds `big` (16383 of 16384 rows), then sends `small` (2 rows, a preferred size) that does not
   * fit beside it: both become dispatchable in the same instant. Returns the executions the server
   * had finished when `small` was answered: a free second instance ran `small` while `big` was still
   * computing (tens of milliseconds); a single instance ran `big` first. (Response arrival order
   * would not do: a small response overtakes a large one still streaming.)
   */
  async function executionsWhenSmallAnswered(model: string): Promise<Record<number, number>> {
    const big = startInfer(client, fp32Request(model, 16383, { width: 64 }));
    await waitFor(`the big request to queue on ${model}`, async () => (await pending(model)) === 1);
    const small = await client.infer(fp32Request(model, 2, { width: 64, caller: 1 }));
    const seen = executionsBySize(await modelStatistics(client, model));
    assert.equal(outputRows(small), 2);
    assert.equal(outputRows(await big.response), 16383);
    assert.deepEqual(executionsBySize(await modelStatistics(client, model)), { 2: 1, 16383: 1 });
    return seen;
  }

  it("runs a second batch beside a running one with instance_count: 2", async () => {
    assert.deepEqual(
      await executionsWhenSmallAnswered("two-instances"),
      { 2: 1 },
      "the big batch was still running",
    );
  });

  it("makes the second batch wait for the first with instance_count: 1", async () => {
    assert.deepEqual(
      await executionsWhenSmallAnswered("one-instance"),
      { 2: 1, 16383: 1 },
      "the big batch ran first",
    );
  });
});

describe("batching off", () => {
  it("runs every request alone with dynamic_batching: false, multi-row requests included", async () => {
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, caller) =>
        client.infer(fp32Request("unbatched", 2, { caller })),
      ),
    );
    responses.forEach((response, caller) => {
      assert.deepEqual([...f32(response.rawOutputContents[0])], expectedRows(caller, 2));
    });
    const stats = await modelStatistics(client, "unbatched");
    assert.equal(stats.executionCount, 6n);
    assert.equal(stats.inferenceCount, 12n);
    assert.deepEqual(executionsBySize(stats), { 2: 6 });
  });
});
