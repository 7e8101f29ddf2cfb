import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { ConsumerError } from "../errors.js";
import { FRAUD_FEATURE_NAMES, FRAUD_FEATURES_YAML, configProblem } from "@sluice/testing";
import { DEFAULT_RETENTION_SLACK_MS } from "../adapters/redis-feature-store.js";
import {
  containerInstanceId,
  DEFAULT_LINGER_MS,
  DEFAULT_MAX_EVENTS,
  DEFAULT_SESSION_TIMEOUT_MS,
  loadPipelineConfig,
  parsePipelineConfig,
  parsePipelineYaml,
} from "./pipeline-config.js";

const FRAUD_EXAMPLE = fileURLToPath(
  new URL("../../../examples/pipelines/fraud.yaml", import.meta.url),
);

/** The smallest valid pipeline, with `patch` merged into `pipeline:`. */
function document(patch: Record<string, unknown> = {}): unknown {
  const features = (parseYaml(FRAUD_FEATURES_YAML) as { features: unknown }).features;
  return {
    pipeline: {
      name: "fraud",
      topics: { input: "transactions", output: "predictions", dead_letter: "dlq" },
      features,
      model: { sidecar: "127.0.0.1:8001", name: "fraud" },
      ...patch,
    },
  };
}

function problems(doc: unknown): string[] {
  return configProblem(() => parsePipelineConfig(doc)).split("\n");
}

describe("pipeline config", () => {
  it("reads monitoring and retraining sections with their schemas and paths, the model repository from the file's folder", () => {
    const config = parsePipelineConfig(
      document({
        monitoring: {
          drift: { reference: "file", model_repository: "../models", topic: "fraud-drift" },
          labels: { topic: "fraud-labels", ttl: "7d" },
        },
        retraining: {
          conditions: [{ metric: "psi", subject: "any_feature", above: 0.25, for: "1h" }],
          topic: "fraud-retraining",
          webhook: { url: "http://127.0.0.1:9/retrain" },
        },
      }),
      {},
      "/srv/pipelines",
    );
    assert.deepEqual(config.monitoring?.drift?.reference, {
      kind: "file",
      modelRepository: "/srv/models",
    });
    assert.equal(config.monitoring?.drift?.topic, "fraud-drift");
    assert.equal(config.monitoring?.labels?.ttlMs, 7 * 86_400_000);
    assert.equal(config.retraining?.topic, "fraud-retraining");
    assert.deepEqual(config.retraining?.webhook, {
      url: "http://127.0.0.1:9/retrain",
      timeoutMs: 5_000,
    });
    assert.equal(parsePipelineConfig(document()).monitoring, undefined);
    const lines = problems(
      document({
        monitoring: { drift: { reference: "file" }, evaluation: { topic: "a b" } },
      }),
    );
    for (const line of [
      "pipeline.monitoring.drift.model_repository: expected the model repository's folder (where each version's reference.json is) with reference: file, got nothing",
      'pipeline.monitoring.evaluation.topic: expected a topic name of letters, digits, ".", "_" or "-" (at most 249), got "a b"',
    ]) {
      assert.ok(lines.includes(line), `${line} not in ${lines.join(" | ")}`);
    }
    assert.ok(
      problems(
        document({
          monitoring: { evaluation: {} },
          retraining: {
            conditions: [{ metric: "psi", subject: "score", above: 1, for: "1h" }],
            webhook: { url: "ftp://x" },
          },
        }),
      ).includes(
        'pipeline.retraining.webhook.url: expected an http:// or https:// URL, got "ftp://x"',
      ),
    );
    assert.ok(
      problems(
        document({ retraining: { conditions: [{ metric: "roc_auc", below: 0.9, for: "1h" }] } }),
      ).some(
        (line) =>
          line ===
          "pipeline.retraining: expected a monitoring: section (drift or evaluation) for its conditions to read, got none",
      ),
    );
  });

  it("reads a rollout section with the lifecycle's schema, its paths, and refuses a second version", () => {
    const arms = [
      { name: "stable", version: "stable", weight: 90 },
      { name: "canary", version: 2, weight: 10 },
    ];
    const config = parsePipelineConfig(
      document({ rollout: { arms, shadow: { version: 3, topic: "fraud-shadow" } } }),
    );
    assert.equal(config.rollout?.salt, "fraud");
    assert.deepEqual(config.rollout?.weightsBp, [9_000, 1_000]);
    assert.equal(config.rollout?.shadow?.topic, "fraud-shadow");
    assert.equal(config.rollout?.eventsTopic, undefined);
    assert.equal(parsePipelineConfig(document()).rollout, undefined);
    assert.deepEqual(
      problems(
        document({
          rollout: { arms: [{ name: "a", version: 1, weight: 95 }], events_topic: "x y" },
        }),
      ).sort(),
      [
        "pipeline.rollout.arms: expected weights summing to 100 (%), got 95",
        'pipeline.rollout.events_topic: expected a topic name of letters, digits, ".", "_" or "-" (at most 249), got "x y"',
      ].sort(),
    );
    assert.deepEqual(
      problems(
        document({
          model: { sidecar: "127.0.0.1:8001", name: "fraud", version: "stable" },
          rollout: { arms },
        }),
      ),
      [
        'pipeline.model.version: expected no version when rollout.arms name the versions, got "stable"',
      ],
    );
  });

  it("fills every default from named constants", () => {
    const config = parsePipelineConfig(document());
    assert.deepEqual(config.kafka, {
      client: "platformatic",
      brokers: ["127.0.0.1:9092"],
      clientId: "sluice-fraud",
      groupId: "sluice-fraud",
      groupInstanceId: undefined,
      sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
      compression: "none",
      producerThread: true,
      security: { tls: undefined, sasl: undefined },
    });
    assert.deepEqual(config.batch, { maxEvents: DEFAULT_MAX_EVENTS, lingerMs: DEFAULT_LINGER_MS });
    assert.equal(config.delivery, "at_least_once");
    assert.equal(config.topics.review, undefined);
    assert.equal(config.decoder.idField, "id");
    assert.equal(config.model.version, undefined);
    assert.equal(config.features.width, 20);
    assert.deepEqual(config.metrics, { host: "127.0.0.1", port: 8003 });
    assert.equal(config.redis.retentionSlackMs, DEFAULT_RETENTION_SLACK_MS);
  });

  it("reads the state's retention slack as a duration", () => {
    const config = parsePipelineConfig(document({ redis: { retention_slack: "7d" } }));
    assert.equal(config.redis.retentionSlackMs, 7 * 86_400_000);
    assert.deepEqual(problems(document({ redis: { retention_slack: "a while" } })), [
      'pipeline.redis.retention_slack: expected a duration like "10m", got "a while"',
    ]);
  });

  it("reads the worked example, whose features are the fraud model's layout", async () => {
    const config = await loadPipelineConfig(FRAUD_EXAMPLE);
    assert.deepEqual(config.features.names, FRAUD_FEATURE_NAMES);
    assert.equal(config.model.name, "fraud");
    assert.equal(config.model.version, "stable");
    assert.equal(config.model.input, "features");
    assert.equal(config.topics.review, "fraud-review");
    assert.match(config.baseDir, /examples\/pipelines$/);
  });

  it("names the path and what was expected", () => {
    assert.deepEqual(problems(document({ batch: { linger_ms: "soon" } })), [
      'pipeline.batch.linger_ms: expected a non-negative integer, got "soon"',
    ]);
    assert.deepEqual(problems(document({ batch: { max_events: 0 } })), [
      "pipeline.batch.max_events: expected a positive integer, got 0",
    ]);
    assert.deepEqual(problems(document({ delivery: "twice" })), [
      'pipeline.delivery: expected one of "at_least_once", "exactly_once", got "twice"',
    ]);
    assert.deepEqual(problems(document({ model: { sidecar: "localhost", name: "fraud" } })), [
      'pipeline.model.sidecar: expected "host:port" such as "127.0.0.1:8001", got "localhost"',
    ]);
    assert.deepEqual(problems(document({ metrics: { port: 70000 } })), [
      "pipeline.metrics.port: expected a port from 0 to 65535, or -1 for none, got 70000",
    ]);
    assert.deepEqual(
      problems(document({ retry: { initial_backoff_ms: 500, max_backoff_ms: 100 } })),
      ["pipeline.retry.max_backoff_ms: expected at least initial_backoff_ms (500), got 100"],
    );
  });

  it("reports feature problems with their path from the pipeline root", () => {
    const doc = document() as { pipeline: { features: { vector: { window?: unknown }[] } } };
    doc.pipeline.features.vector[2] = { window: { agg: "count", over: "ten" } };
    const lines = problems(doc);
    assert.ok(
      lines.includes(
        'pipeline.features.vector[2].window.over: expected a duration like "10m", got "ten"',
      ),
      lines.join("\n"),
    );
  });

  it("refuses an output topic that is the input topic", () => {
    assert.deepEqual(
      problems(document({ topics: { input: "tx", output: "tx", dead_letter: "dlq" } })),
      ['pipeline.topics.output: expected a topic other than the input topic, got "tx"'],
    );
  });

  it("applies overrides and validates them like the file", () => {
    const config = parsePipelineConfig(document(), {
      brokers: "127.0.0.1:19092, 127.0.0.1:19093",
      redisUrl: "redis://127.0.0.1:16379",
      sidecar: "127.0.0.1:9001",
      metricsPort: -1,
      metricsHost: "0.0.0.0",
    });
    assert.deepEqual(config.metrics, { host: "0.0.0.0", port: -1 });
    assert.deepEqual(config.kafka.brokers, ["127.0.0.1:19092", "127.0.0.1:19093"]);
    assert.equal(config.redis.url, "redis://127.0.0.1:16379");
    assert.equal(config.model.sidecar, "127.0.0.1:9001");
    assert.deepEqual(problems(document({ kafka: { brokers: "nohost" } })), [
      'pipeline.kafka.brokers[0]: expected a broker as "host:port" such as "127.0.0.1:9092", got "nohost"',
    ]);
  });

  it("picks the Kafka client and the group instance id: flag over file over the container's name", () => {
    assert.equal(
      parsePipelineConfig(document({ kafka: { client: "kafkajs" } })).kafka.client,
      "kafkajs",
    );
    assert.deepEqual(problems(document({ kafka: { client: "rdkafka" } })), [
      'pipeline.kafka.client: expected "platformatic" or "kafkajs", got "rdkafka"',
    ]);
    const file = document({ kafka: { group_instance_id: "fraud-a" } });
    assert.equal(parsePipelineConfig(file).kafka.groupInstanceId, "fraud-a");
    assert.equal(
      parsePipelineConfig(file, { instanceId: "fraud-b", defaultInstanceId: "pod-1" }).kafka
        .groupInstanceId,
      "fraud-b",
    );
    assert.equal(
      parsePipelineConfig(file, { defaultInstanceId: "pod-1" }).kafka.groupInstanceId,
      "fraud-a",
    );
    assert.equal(
      parsePipelineConfig(document(), { defaultInstanceId: "pod-1" }).kafka.groupInstanceId,
      "pod-1",
    );
    assert.deepEqual(problems(document({ kafka: { group_instance_id: "two words" } })), [
      'pipeline.kafka.group_instance_id: expected an id of letters, digits, ".", "_", ":" or "-" (at most 200) like "fraud-0", got "two words"',
    ]);
  });

  it("takes the producers' compression, each client only what it can write", () => {
    for (const compression of ["gzip", "snappy", "lz4", "zstd"]) {
      assert.equal(
        parsePipelineConfig(document({ kafka: { compression } })).kafka.compression,
        compression,
      );
    }
    assert.equal(
      parsePipelineConfig(document({ kafka: { client: "kafkajs", compression: "zstd" } })).kafka
        .compression,
      "zstd",
    );
    assert.deepEqual(problems(document({ kafka: { compression: "brotli" } })), [
      'pipeline.kafka.compression: expected "none", "gzip", "snappy", "lz4", "zstd", got "brotli"',
    ]);
    assert.deepEqual(problems(document({ kafka: { client: "kafkajs", compression: "lz4" } })), [
      'pipeline.kafka.compression: expected "none", "gzip", "zstd" with client "kafkajs" (it has no lz4 codec), got "lz4"',
    ]);
  });

  it("runs the producer in a thread of its own where the client has one, unless told not to", () => {
    const kafka = (settings: Record<string, unknown>) =>
      parsePipelineConfig(document({ kafka: settings })).kafka;
    assert.equal(kafka({}).producerThread, true);
    assert.equal(kafka({ producer_thread: false }).producerThread, false);
    assert.equal(kafka({ client: "kafkajs" }).producerThread, false);
    assert.equal(kafka({ client: "kafkajs", producer_thread: false }).producerThread, false);
    assert.deepEqual(problems(document({ kafka: { client: "kafkajs", producer_thread: true } })), [
      `pipeline.kafka.producer_thread: expected false or nothing with client "kafkajs" (it sends from the consumer's thread), got true`,
    ]);
    assert.deepEqual(problems(document({ kafka: { producer_thread: "yes" } })), [
      'pipeline.kafka.producer_thread: expected true or false, got "yes"',
    ]);
  });

  it("takes the host name as instance id only inside a container", () => {
    const pod = { HOSTNAME: "fraud-7d9f-x2x4q", KUBERNETES_SERVICE_HOST: "10.0.0.1" };
    assert.equal(
      containerInstanceId(pod, () => false),
      "fraud-7d9f-x2x4q",
    );
    assert.equal(
      containerInstanceId({ HOSTNAME: "3f2a9c0d1e4b" }, () => true),
      "3f2a9c0d1e4b",
    );
    // On a plain host two processes would share the name and fence each other out.
    assert.equal(
      containerInstanceId({ HOSTNAME: "laptop" }, () => false),
      undefined,
    );
    assert.equal(
      containerInstanceId({ KUBERNETES_SERVICE_HOST: "10.0.0.1" }, () => false),
      undefined,
    );
  });

  it("says which file is not YAML and where", () => {
    assert.throws(
      () => parsePipelineYaml("pipeline: [unclosed", "bad.yaml"),
      (error: unknown) =>
        ConsumerError.is(error, "config_invalid") &&
        /^bad\.yaml: not valid YAML: /.test(error.message),
    );
  });

  it("says which file cannot be read", async () => {
    await assert.rejects(loadPipelineConfig("/nonexistent/pipeline.yaml"), {
      code: "config_invalid",
      message: /^cannot read pipeline file "\/nonexistent\/pipeline\.yaml": ENOENT/,
    });
  });

  it("checks the example text too", async () => {
    const text = await readFile(FRAUD_EXAMPLE, "utf8");
    assert.equal(parsePipelineYaml(text).features.width, 20);
  });
});
