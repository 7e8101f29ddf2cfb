/**
 * @sluice/testing: the one testing kit. Real parts on loopback for tests, benchmarks and
 * development: the local Kafka (KRaft) and Redis (also `sluice stack`), a sidecar on port 0 with a
 * protocol-level client, the pipeline harness, bounded waits, in-memory OpenTelemetry, TLS
 * material, Jaeger, and the fraud fixtures with their reference features.
 *
 * `@sluice/testing/stack` is the local stack alone, for the CLI and scripts that need nothing else.
 */
export * from "./stack/index.js";
export * from "./paths.js";
export * from "./wait.js";
export * from "./read-metric.js";
export * from "./seeded-random.js";
export * from "./property-failure.js";
export * from "./monitoring-fixtures.js";
export * from "./certs.js";
export * from "./jaeger.js";
export * from "./kafka/kafka-admin.js";
export * from "./kafka/topic-reader.js";
export * from "./kafka/test-kafka.js";
export * from "./redis/test-redis.js";
export * from "./otel/in-memory-tracing.js";
export * from "./sidecar/test-sidecar.js";
export * from "./sidecar/model-client.js";
export * from "./sidecar/versioned-repository.js";
export * from "./sidecar/scheduling.js";
export * from "./sidecar/load-generator.js";
export * from "./sidecar/mat-mul-model.js";
export * from "./sidecar/wait-for-poll.js";
export * from "./pipeline/fraud-reference.js";
export * from "./pipeline/fraud-layout.js";
export * from "./pipeline/pipeline-fixture.js";
export * from "./pipeline/pipeline-harness.js";
export * from "./pipeline/cli-process.js";
export * from "./pipeline/fake-features.js";
export * from "./pipeline/config-problems.js";
export * from "./sidecar/stub-server.js";
export * from "./cli/run-program.js";
