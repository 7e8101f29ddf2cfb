import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelError } from "../models/model-error.js";
import {
  DEFAULT_INSTANCE_COUNT,
  DEFAULT_MAX_QUEUE_DELAY_MICROS,
  DEFAULT_MAX_QUEUE_SIZE,
  resolveModelConfig,
} from "./model-config.js";

const resolve = (document: unknown) => resolveModelConfig("fraud", document, "fraud/config.yaml");

function refusal(document: unknown): string {
  try {
    resolve(document);
  } catch (error) {
    assert.ok(error instanceof ModelError);
    assert.equal(error.code, "invalid_config");
    return error.message;
  }
  assert.fail("the config was accepted");
}

describe("resolveModelConfig", () => {
  it("fills every default for a model without a config", () => {
    const config = resolve({});
    assert.equal(config.maxBatchSize, undefined, "from the model's shapes");
    assert.equal(config.batching.enabled, true);
    assert.equal(config.batching.maxQueueDelayMicros, DEFAULT_MAX_QUEUE_DELAY_MICROS);
    assert.equal(config.batching.maxQueueSize, DEFAULT_MAX_QUEUE_SIZE);
    assert.equal(config.instanceCount, DEFAULT_INSTANCE_COUNT);
    assert.deepEqual(config.versionPolicy, { kind: "latest", numVersions: 1 });
    assert.equal(config.warmupBatchSizes, undefined, "every size the batcher can form");
    assert.deepEqual(config.ort, {
      intraOpThreads: 0,
      interOpThreads: 0,
      graphOptimizationLevel: "all",
      allowSpinning: false,
    });
  });

  it("reads the README's example config", () => {
    const config = resolve({
      max_batch_size: 256,
      dynamic_batching: {
        max_queue_delay_microseconds: 500,
        preferred_batch_sizes: [128, 64, 64],
        max_queue_size: 4096,
        priority_levels: 2,
        default_priority_level: 2,
      },
      version_policy: { latest: { num_versions: 2 } },
      labels: { stable: 1, canary: 2 },
      instance_count: 1,
      warmup: { batch_sizes: [256, 1, 64] },
      onnxruntime: { intra_op_threads: 2, graph_optimization_level: "basic" },
      inputs: [{ name: "features", dims: [20] }],
      outputs: [{ name: "probabilities" }],
    });
    assert.equal(config.maxBatchSize, 256);
    assert.deepEqual(config.batching.preferredBatchSizes, [64, 128], "sorted, once each");
    assert.equal(config.batching.defaultPriorityLevel, 2);
    assert.deepEqual(config.versionPolicy, { kind: "latest", numVersions: 2 });
    assert.deepEqual(
      [...config.labels],
      [
        ["stable", 1],
        ["canary", 2],
      ],
    );
    assert.deepEqual(config.warmupBatchSizes, [1, 64, 256]);
    assert.equal(config.ort.intraOpThreads, 2);
    assert.equal(config.ort.graphOptimizationLevel, "basic");
    assert.deepEqual([...config.inputs!], [["features", [20]]]);
    assert.deepEqual([...config.outputs!], ["probabilities"]);
  });

  it("batching off, and no warm-up", () => {
    const config = resolve({ dynamic_batching: false, warmup: false });
    assert.equal(config.batching.enabled, false);
    assert.deepEqual(config.warmupBatchSizes, []);
  });

  it("refuses a bad key naming the file, the key, what was expected and what came", () => {
    assert.equal(
      refusal({ max_batch_size: -3 }),
      "fraud/config.yaml: max_batch_size: expected a number ≥ 0, got -3",
    );
    assert.match(refusal({ max_batch: 4 }), /^fraud\/config\.yaml: .*unknown key "max_batch"/);
    assert.equal(
      refusal({ name: "other" }),
      'fraud/config.yaml: name: expected "fraud" (the folder name), got "other"',
    );
    assert.equal(
      refusal({ dynamic_batching: { priority_levels: 2, default_priority_level: 3 } }),
      "fraud/config.yaml: dynamic_batching.default_priority_level: expected 1..2, got 3",
    );
  });
});
