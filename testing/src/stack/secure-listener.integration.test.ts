/**
 * The stack's Kafka with a SASL_SSL listener, as a production cluster asks of its clients: TLS
 * with a certificate from a CA the test makes, and SCRAM users created at format. A client with
 * the CA and the password produces and consumes; a wrong password or an untrusted CA is refused.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel, type SASLOptions } from "kafkajs";
import { makeTestPki, type TestPki } from "../certs.js";
import { freePort } from "../wait.js";
import { ensureStack, stopStack } from "./stack.js";
import type { StackOptions } from "./stack-options.js";

const USER = { mechanism: "SCRAM-SHA-512", name: "sluice", password: "s3cret-scram" } as const;

let pki: TestPki;
let stateDir: string;
let options: StackOptions;
let secure: string;

before(async () => {
  pki = await makeTestPki();
  stateDir = await mkdtemp(join(tmpdir(), "sluice-stack-secure-"));
  const [kafkaPort, redisPort, securePort] = [await freePort(), await freePort(), await freePort()];
  options = {
    kafkaPort,
    redisPort,
    stateDir,
    env: {},
    progress: () => {},
    secureListener: { port: securePort, key: pki.server.key, cert: pki.server.cert, users: [USER] },
  };
  await ensureStack(options);
  secure = `127.0.0.1:${securePort}`;
});

after(async () => {
  await stopStack({ ...options, purge: true });
  await rm(stateDir, { recursive: true, force: true });
  await pki.remove();
});

function client(sasl: SASLOptions, ca: Buffer = pki.ca) {
  return new Kafka({
    clientId: "sluice-secure-test",
    brokers: [secure],
    ssl: { ca: [ca] },
    sasl,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 5_000,
  });
}

const scram = (password: string): SASLOptions => ({
  mechanism: "scram-sha-512",
  username: USER.name,
  password,
});

describe("the stack's SASL_SSL listener", { timeout: 180_000 }, () => {
  it("takes a client with the CA and the SCRAM password: it produces and reads back", async () => {
    const kafka = client(scram(USER.password));
    const topic = `secure-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: "k", value: "over TLS and SCRAM" }] });
    await producer.disconnect();
    const offsets = await (async () => {
      const reader = kafka.admin();
      await reader.connect();
      try {
        return await reader.fetchTopicOffsets(topic);
      } finally {
        await reader.disconnect();
      }
    })();
    assert.deepEqual(
      offsets.map((o) => [o.partition, o.high]),
      [[0, "1"]],
    );
  });

  it("refuses a wrong password as an authentication failure", async () => {
    const admin = client(scram("not-the-password")).admin();
    await assert.rejects(admin.connect(), /SASL SCRAM SHA512 authentication failed/);
  });

  it("refuses a client that does not trust the broker's CA", async () => {
    const stranger = await makeTestPki();
    try {
      const admin = client(scram(USER.password), stranger.ca).admin();
      await assert.rejects(
        admin.connect(),
        /self[- ]signed certificate|unable to verify|certificate/i,
      );
    } finally {
      await stranger.remove();
    }
  });
});
