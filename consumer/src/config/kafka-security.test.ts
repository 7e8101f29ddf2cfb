import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { FRAUD_FEATURES_YAML, configProblem, configRejection } from "@sluice/testing";
import { loadKafkaSecurity } from "./kafka-security.js";
import { parsePipelineConfig } from "./pipeline-config.js";

/** The smallest valid pipeline with `kafka` as its `kafka:`. */
function document(kafka: Record<string, unknown>): unknown {
  const features = (parseYaml(FRAUD_FEATURES_YAML) as { features: unknown }).features;
  return {
    pipeline: {
      name: "fraud",
      kafka,
      topics: { input: "transactions", output: "predictions", dead_letter: "dlq" },
      features,
      model: { sidecar: "127.0.0.1:8001", name: "fraud" },
    },
  };
}

function problems(kafka: Record<string, unknown>): string[] {
  return configProblem(() => parsePipelineConfig(document(kafka))).split("\n");
}

async function rejection(promise: Promise<unknown>): Promise<string[]> {
  return (await configRejection(promise)).split("\n");
}

const SCRAM = { mechanism: "scram-sha-512", username: "sluice" };

describe("kafka security in the pipeline file", () => {
  it("takes tls: true, files relative to the pipeline's folder, and a password's source", () => {
    const plain = parsePipelineConfig(document({ tls: true }), {}, "/etc/sluice");
    assert.deepEqual(plain.kafka.security, {
      tls: {
        caFile: undefined,
        certFile: undefined,
        keyFile: undefined,
        servername: undefined,
        rejectUnauthorized: true,
      },
      sasl: undefined,
    });
    const full = parsePipelineConfig(
      document({
        tls: { ca: "ca.pem", cert: "/secrets/client.pem", key: "client.key", servername: "kafka" },
        sasl: { ...SCRAM, password_env: "SLUICE_KAFKA_PASSWORD" },
      }),
      {},
      "/etc/sluice",
    );
    assert.deepEqual(full.kafka.security, {
      tls: {
        caFile: "/etc/sluice/ca.pem",
        certFile: "/secrets/client.pem",
        keyFile: "/etc/sluice/client.key",
        servername: "kafka",
        rejectUnauthorized: true,
      },
      sasl: {
        mechanism: "scram-sha-512",
        username: "sluice",
        password: { env: "SLUICE_KAFKA_PASSWORD" },
      },
    });
    const file = parsePipelineConfig(
      document({ sasl: { ...SCRAM, password_file: "pw" } }),
      {},
      "/etc/sluice",
    );
    assert.deepEqual(file.kafka.security.sasl?.password, { file: "/etc/sluice/pw" });
  });

  it("names the path and what was expected", () => {
    assert.deepEqual(problems({ tls: "yes" }), [
      'pipeline.kafka.tls: expected true or a mapping of ca, cert, key, servername, reject_unauthorized, got "yes"',
    ]);
    assert.deepEqual(problems({ tls: { cert: "client.pem" } }), [
      "pipeline.kafka.tls.key: expected a file path (cert and key go together, for mutual TLS), got nothing",
    ]);
    assert.deepEqual(problems({ sasl: { ...SCRAM, mechanism: "kerberos", password: "x" } }), [
      'pipeline.kafka.sasl.mechanism: expected "plain", "scram-sha-256" or "scram-sha-512", got "kerberos"',
    ]);
    assert.deepEqual(problems({ sasl: SCRAM }), [
      "pipeline.kafka.sasl: expected one of password_env, password_file or password, got none",
    ]);
    assert.deepEqual(problems({ sasl: { ...SCRAM, password: "x", password_env: "PW" } }), [
      "pipeline.kafka.sasl.password: expected one of password_env, password_file or password, got password_env and password",
    ]);
    assert.deepEqual(problems({ sasl: { ...SCRAM, password_env: "my password" } }), [
      `pipeline.kafka.sasl.password_env: expected an environment variable's name like "SLUICE_KAFKA_PASSWORD", got "my password"`,
    ]);
  });

  it("reads the files and the variable at start, naming what is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-kafka-security-"));
    try {
      await writeFile(join(dir, "ca.pem"), "CA");
      await writeFile(join(dir, "password"), "from-a-file\n");
      const settings = (kafka: Record<string, unknown>) =>
        parsePipelineConfig(document(kafka), {}, dir).kafka.security;

      assert.deepEqual(
        await loadKafkaSecurity(
          settings({ tls: { ca: "ca.pem" }, sasl: { ...SCRAM, password_env: "PW" } }),
          { PW: "from-the-env" },
        ),
        {
          tls: { ca: Buffer.from("CA"), rejectUnauthorized: true },
          sasl: { mechanism: "scram-sha-512", username: "sluice", password: "from-the-env" },
        },
      );
      const fromFile = await loadKafkaSecurity(
        settings({ sasl: { ...SCRAM, password_file: "password" } }),
        {},
      );
      assert.equal(fromFile.sasl?.password, "from-a-file");

      const lines = await rejection(
        loadKafkaSecurity(
          settings({ tls: { ca: "missing.pem" }, sasl: { ...SCRAM, password_env: "PW" } }),
          {},
        ),
      );
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^pipeline\.kafka\.tls\.ca: cannot read ".*missing\.pem": .*ENOENT/);
      assert.equal(
        lines[1],
        "pipeline.kafka.sasl.password_env: expected the environment variable PW to hold the password, got it unset",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
