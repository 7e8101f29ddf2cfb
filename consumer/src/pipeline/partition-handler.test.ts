import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import type { Delivery } from "./delivery.js";
import type { InputRecord, OutputRecord, PartitionBatch } from "../ports/kafka.js";
import type { MicroBatchResult } from "./micro-batch.js";
import { ConsumerMetrics } from "../observability/consumer-metrics.js";
import { PartitionHandler, type PartitionHandlerDependencies } from "./partition-handler.js";

/** Records written to Kafka at `timestamp` (epoch ms; @default now). */
function records(from: number, count: number, timestamp = Date.now()): InputRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: String(from + i),
    key: null,
    value: Buffer.from("{}"),
    headers: {},
    timestamp: String(timestamp),
  }));
}

class FakeBatch implements PartitionBatch {
  readonly topic = "in";
  readonly partition = 3;
  readonly highWatermark = "100";
  readonly resolved: string[] = [];
  paused = 0;
  running = true;
  constructor(readonly records: InputRecord[]) {}
  resolveOffset(offset: string): void {
    this.resolved.push(offset);
  }
  heartbeat(): Promise<void> {
    return Promise.resolve();
  }
  isRunning(): boolean {
    return this.running;
  }
  isStale(): boolean {
    return false;
  }
  pause(): () => void {
    this.paused++;
    return () => {};
  }
}

function harness(failWith?: (call: number) => ConsumerError | undefined) {
  const delivered: { records: readonly OutputRecord[]; nextOffset: string }[] = [];
  const resumed: string[] = [];
  const fatal: ConsumerError[] = [];
  const chunks: string[][] = [];
  let calls = 0;
  const observer = new ConsumerMetrics().forPipeline({
    pipeline: "p",
    model: "m",
    topics: { input: "in", output: "out", deadLetter: "dlq", review: undefined },
  });
  const delivery: Delivery = {
    deliver: (_topic, _partition, out, nextOffset) => {
      delivered.push({ records: out, nextOffset });
      return Promise.resolve({ produce: 0, commit: 0 });
    },
    assigned: () => {},
    close: () => Promise.resolve(),
  };
  const deps: PartitionHandlerDependencies = {
    process: (_topic, _partition, input): Promise<MicroBatchResult> => {
      const error = failWith?.(calls++);
      if (error !== undefined) return Promise.reject(error);
      chunks.push(input.map((r) => r.offset));
      return Promise.resolve({
        records: [],
        predictions: input.length,
        reviews: 0,
        deadLetters: {},
        versions: new Map(),
        seconds: { decode: 0, features: 0, inference: 0 },
      });
    },
    delivery,
    consumer: { resume: (topic, partition) => resumed.push(`${topic}[${partition}]`) },
    log: silentLogger,
    observer,
    onFatal: (error) => fatal.push(error),
    random: () => 0,
  };
  return { deps, observer, delivered, resumed, fatal, chunks };
}

const retry = { initialBackoffMs: 20, maxBackoffMs: 20 };

describe("PartitionHandler", () => {
  it("cuts a batch into micro-batches and commits after each", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 4, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(10, 10));
    await handler.handle(batch);
    assert.deepEqual(h.chunks, [
      ["10", "11", "12", "13"],
      ["14", "15", "16", "17"],
      ["18", "19"],
    ]);
    assert.deepEqual(
      h.delivered.map((d) => d.nextOffset),
      ["14", "18", "20"],
    );
    assert.deepEqual(batch.resolved, ["13", "17", "19"]);
    assert.equal(h.observer.stats.events, 10);
  });

  it("lets a short batch linger once, then takes what came meanwhile", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 8, lingerMs: 30, retry }, h.deps);
    const started = Date.now();
    await handler.handle(new FakeBatch(records(0, 2)));
    assert.ok(Date.now() - started >= 25, "waited the linger");
    assert.deepEqual(h.chunks, [], "nothing processed yet");
    const again = new FakeBatch(records(0, 5));
    await handler.handle(again);
    assert.deepEqual(h.chunks, [["0", "1", "2", "3", "4"]]);
    assert.deepEqual(again.resolved, ["4"]);
  });

  it("does not linger for records that already waited that long in the topic", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 8, lingerMs: 1_000, retry }, h.deps);
    const started = Date.now();
    const batch = new FakeBatch(records(0, 2, Date.now() - 1_500));
    await handler.handle(batch);
    assert.ok(Date.now() - started < 500, "no wait");
    assert.deepEqual(h.chunks, [["0", "1"]]);
    assert.deepEqual(batch.resolved, ["1"]);
  });

  it("pauses the partition on a retryable failure, commits nothing, resumes after the backoff", async () => {
    const h = harness((call) =>
      call === 1 ? new ConsumerError("store_unavailable", "redis down") : undefined,
    );
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 6));
    await handler.handle(batch);
    assert.deepEqual(batch.resolved, ["1"], "only the micro-batch before the failure");
    assert.deepEqual(
      h.delivered.map((d) => d.nextOffset),
      ["2"],
    );
    assert.equal(batch.paused, 1);
    assert.equal(h.observer.stats.retries, 1);
    assert.deepEqual(h.resumed, []);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.deepEqual(h.resumed, ["in[3]"]);
    handler.halt();
  });

  it("stops the pipeline on a failure no retry can fix", async () => {
    const h = harness(() => new ConsumerError("internal", "a bug"));
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 4));
    await handler.handle(batch);
    assert.deepEqual(batch.resolved, []);
    assert.equal(h.fatal[0]?.message, "a bug");
    await handler.handle(new FakeBatch(records(0, 4)));
    assert.deepEqual(h.chunks, [], "handles nothing more");
  });

  it("finishes the micro-batch in hand and starts no other once stopping", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 6));
    const process = h.deps.process;
    (h.deps as { process: typeof process }).process = async (...args) => {
      batch.running = false;
      return process(...args);
    };
    await handler.handle(batch);
    assert.deepEqual(batch.resolved, ["1"]);
  });
  it("processes the next micro-batch while the one before is delivered; delivers and resolves in order", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 6));
    const events: string[] = [];
    const process = h.deps.process;
    (h.deps as { process: typeof process }).process = async (topic, partition, input, trace) => {
      events.push(`process ${input[0]!.offset}`);
      return process(topic, partition, input, trace);
    };
    const deliver = h.deps.delivery.deliver.bind(h.deps.delivery);
    h.deps.delivery.deliver = async (topic, partition, out, nextOffset) => {
      events.push(`deliver ${nextOffset}`);
      // Slower than processing: the next micro-batch is processed meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push(`delivered ${nextOffset} (resolved ${batch.resolved.join(",")})`);
      return deliver(topic, partition, out, nextOffset);
    };
    await handler.handle(batch);
    assert.deepEqual(events, [
      "process 0",
      "deliver 2",
      "process 2",
      "delivered 2 (resolved )",
      "deliver 4",
      "process 4",
      "delivered 4 (resolved 1)",
      "deliver 6",
      "delivered 6 (resolved 1,3)",
    ]);
    assert.deepEqual(batch.resolved, ["1", "3", "5"]);
  });

  it("drops the micro-batch processed while the delivery before it failed, and pauses", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 6));
    const deliver = h.deps.delivery.deliver.bind(h.deps.delivery);
    h.deps.delivery.deliver = async (topic, partition, out, nextOffset) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (nextOffset === "4") throw new ConsumerError("produce_failed", "broker gone");
      return deliver(topic, partition, out, nextOffset);
    };
    await handler.handle(batch);
    assert.deepEqual(h.chunks, [
      ["0", "1"],
      ["2", "3"],
      ["4", "5"],
    ]);
    assert.deepEqual(
      h.delivered.map((d) => d.nextOffset),
      ["2"],
      "nothing after the failed delivery",
    );
    assert.deepEqual(batch.resolved, ["1"]);
    assert.equal(batch.paused, 1);
    handler.halt();
  });

  it("drops the micro-batch processed during a delivery once stopping", async () => {
    const h = harness();
    const handler = new PartitionHandler({ maxEvents: 2, lingerMs: 0, retry }, h.deps);
    const batch = new FakeBatch(records(0, 6));
    const deliver = h.deps.delivery.deliver.bind(h.deps.delivery);
    h.deps.delivery.deliver = async (topic, partition, out, nextOffset) => {
      batch.running = false;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return deliver(topic, partition, out, nextOffset);
    };
    await handler.handle(batch);
    assert.deepEqual(
      h.delivered.map((d) => d.nextOffset),
      ["2"],
    );
    assert.deepEqual(batch.resolved, ["1"]);
    assert.equal(batch.paused, 0);
  });

  it("runs the commit hook after the produce and before the commit, and what it returns once the commit is done; a hook that fails retries the batch", async () => {
    const h = harness();
    const steps: string[] = [];
    let hookCalls = 0;
    const handler = new PartitionHandler(
      { maxEvents: 4, lingerMs: 0, retry },
      {
        ...h.deps,
        delivery: {
          deliver: async (_topic, _partition, _records, nextOffset, beforeCommit) => {
            steps.push(`produce ${nextOffset}`);
            await beforeCommit?.();
            steps.push(`commit ${nextOffset}`);
            return { produce: 0, commit: 0 };
          },
          assigned: () => {},
          close: () => Promise.resolve(),
        },
        commitHook: (result) => {
          hookCalls++;
          if (hookCalls === 1) {
            steps.push("hook failed");
            return Promise.reject(
              new ConsumerError("store_unavailable", "Redis is down", { retryable: true }),
            );
          }
          steps.push(`hook ${result.predictions}`);
          return Promise.resolve(() => steps.push(`after commit ${result.predictions}`));
        },
      },
    );
    const first = new FakeBatch(records(0, 4));
    await handler.handle(first);
    assert.deepEqual(first.resolved, [], "not resolved: the hook failed before the commit");
    assert.equal(first.paused, 1);
    // The partition is fetched again from the same offset: the same records, processed again.
    const again = new FakeBatch(records(0, 4));
    await handler.handle(again);
    assert.deepEqual(again.resolved, ["3"]);
    assert.deepEqual(steps, [
      "produce 4",
      "hook failed",
      "produce 4",
      "hook 4",
      "commit 4",
      "after commit 4",
    ]);
    handler.halt();
  });
});
