/**
 * A pipeline on a secured cluster, as processes a user starts: the test's own broker with a
 * SASL_SSL listener (TLS with a CA the test makes, SCRAM-SHA-512 users), the pipeline file naming
 * the CA and where the password is. On each Kafka client the pipeline consumes and publishes over
 * SASL_SSL (at-least-once and exactly-once, so the consumer, the producer, the transactional
 * producer and the admin all authenticate); `sluice produce` and `sluice verify` read the same
 * file. A wrong password and a CA that did not sign the broker's certificate each stop
 * `sluice consume` at start, within bounded time, saying which of the two failed.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DeliveryMode, KafkaClientName } from "@sluice/consumer";
import {
  type CliProcess,
  configFolder,
  type ConfigFolder,
  ensureStack,
  eventMessages,
  fraudDocument,
  fraudStream,
  freePort,
  makeTestPki,
  pipelineHarness,
  type StackOptions,
  stopStack,
  type TestPki,
} from "@sluice/testing";

const USER = { mechanism: "SCRAM-SHA-512", name: "sluice", password: "s3cret-scram" } as const;
const PASSWORD_ENV = "SLUICE_KAFKA_PASSWORD";
const TEST_TIMEOUT_MS = 90_000;
/** A cold `node --import tsx` of the CLI plus a TLS handshake and SCRAM exchange per connection. */
const START_TIMEOUT_MS = 40_000;
/**
 * How long a refused start may take: kafkajs retries a failed TLS handshake with backoff for
 * ~12 s, @platformatic/kafka its metadata four times in ~5 s. Past this it is a hang.
 */
const REFUSAL_TIMEOUT_MS = 45_000;

describe("a pipeline on SASL_SSL", { timeout: 8 * 60_000 }, () => {
  let pki: TestPki;
  let stranger: TestPki;
  let stack: StackOptions;
  let stateDir: string | undefined;
  let secure: string;
  let files: ConfigFolder;
  let caFile: string;
  let strangerCaFile: string;

  const h = pipelineHarness(async () => {
    [pki, stranger] = await Promise.all([makeTestPki(), makeTestPki()]);
    // The shared Redis; the broker is this file's own, with the secure listener.
    const shared = await ensureStack({ progress: () => {} });
    stateDir = await mkdtemp(join(tmpdir(), "sluice-pipeline-secure-"));
    const securePort = await freePort();
    stack = {
      kafkaPort: await freePort(),
      stateDir,
      env: { REDIS_URL: shared.redisUrl },
      progress: () => {},
      secureListener: {
        port: securePort,
        key: pki.server.key,
        cert: pki.server.cert,
        users: [USER],
      },
    };
    secure = `127.0.0.1:${securePort}`;
    return stack;
  });
  before(async () => {
    files = await configFolder();
    caFile = await files.writeText("kafka-ca.pem", pki.ca.toString());
    strangerCaFile = await files.writeText("other-ca.pem", stranger.ca.toString());
  });

  after(async () => {
    await files?.remove();
    if (stateDir !== undefined) {
      await stopStack({ ...stack, purge: true });
      await rm(stateDir, { recursive: true, force: true });
    }
    await pki?.remove();
    await stranger?.remove();
  });

  /** Fresh topics and group; a pipeline file whose `kafka:` points at the SASL_SSL listener. */
  async function setup(client: KafkaClientName, delivery: DeliveryMode, ca = caFile) {
    const { topics, settings } = await h.setup(2, { client, delivery, maxEvents: 16 });
    const document = await fraudDocument(settings);
    document.pipeline["kafka"] = {
      ...(document.pipeline["kafka"] as Record<string, unknown>),
      brokers: [secure],
      tls: { ca },
      sasl: { mechanism: "scram-sha-512", username: USER.name, password_env: PASSWORD_ENV },
    };
    const file = await files.write(`${randomUUID()}.yaml`, document);
    return { topics, settings, file };
  }

  /** The CLI as a user starts it on a secured cluster: the password in the environment. */
  function cli(args: readonly string[], password: string = USER.password): CliProcess {
    // KAFKA_BROKERS would replace the file's brokers (the tests export the shared broker's).
    return h.cli(args, { [PASSWORD_ENV]: password, KAFKA_BROKERS: secure });
  }

  for (const client of ["platformatic", "kafkajs"] as const) {
    for (const delivery of ["at_least_once", "exactly_once"] as const) {
      it(
        `${client}, ${delivery}: consumes, predicts and publishes over TLS and SCRAM`,
        { timeout: TEST_TIMEOUT_MS },
        async () => {
          const { topics, file } = await setup(client, delivery);
          const stream = fraudStream(5, 6, 4, `${h.run}-${client}-${delivery}`);
          await h.loadHomes(stream.homes);
          const consume = cli(["consume", "--config", file]);
          await consume.consuming(START_TIMEOUT_MS);
          // Produced over plaintext: only the pipeline's own connections are under test.
          await h.kafka.produce(topics.in, eventMessages(stream.events));
          await h.assertAllPredicted(topics.out, stream);
          consume.child.kill("SIGTERM");
          assert.equal((await consume.exited).code, 0, consume.lines.join("\n"));
        },
      );
    }
  }

  it(
    "sluice produce and sluice verify read the file's TLS and SASL settings",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { file } = await setup("platformatic", "at_least_once");
      const consume = cli(["consume", "--config", file]);
      await consume.consuming(START_TIMEOUT_MS);
      const produce = cli(["produce", "--config", file, "--rate", "200", "--count", "60"]);
      assert.equal((await produce.exited).code, 0, produce.lines.join("\n"));
      const run = /^run (\S+): produced 60 records/m.exec(produce.stdout());
      assert.ok(run !== null, produce.stdout());
      const verify = cli(["verify", "--config", file, "--expect", "60", "--timeout", "30"]);
      const verified = await verify.exited;
      // The synthetic users' home countries, written by produce.
      const keys = await h.redis.keys(`user:u-${run[1]}-*`);
      if (keys.length > 0) await h.redis.unlink(...keys);
      assert.equal(verified.code, 0, `${verify.stdout()}\n${verify.lines.join("\n")}`);
      assert.match(verify.stdout(), /missing: 0/);
    },
  );

  for (const client of ["platformatic", "kafkajs"] as const) {
    it(
      `${client}: a wrong password stops the start, saying authentication failed`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { file } = await setup(client, "at_least_once");
        const started = Date.now();
        const consume = cli(["consume", "--config", file], "not-the-password");
        const { code } = await exitWithin(consume, REFUSAL_TIMEOUT_MS);
        assert.equal(code, 1, consume.lines.join("\n"));
        const said = consume.lines.join("\n");
        assert.match(said, /authentication failed: the broker refused the SASL credentials/);
        assert.doesNotMatch(said, /certificate/);
        assert.ok(Date.now() - started < REFUSAL_TIMEOUT_MS);
      },
    );

    it(
      `${client}: a CA that did not sign the broker's certificate stops the start, saying so`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { file } = await setup(client, "at_least_once", strangerCaFile);
        const consume = cli(["consume", "--config", file]);
        const { code } = await exitWithin(consume, REFUSAL_TIMEOUT_MS);
        assert.equal(code, 1, consume.lines.join("\n"));
        const said = consume.lines.join("\n");
        assert.match(said, /TLS certificate check failed: the broker's certificate is not trusted/);
        assert.match(said, /kafka\.tls\.ca/);
        assert.doesNotMatch(said, /authentication failed/);
      },
    );
  }

  it(
    "a password variable that is not set stops the start before any connection, naming it",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { file } = await setup("platformatic", "at_least_once");
      const consume = cli(["consume", "--config", file], "");
      const { code } = await exitWithin(consume, REFUSAL_TIMEOUT_MS);
      assert.equal(code, 2, consume.lines.join("\n"));
      assert.match(
        consume.lines.join("\n"),
        /pipeline\.kafka\.sasl\.password_env: expected the environment variable SLUICE_KAFKA_PASSWORD to hold the password, got it empty/,
      );
    },
  );
});

/** The process's exit, or a failure if it is still running after `timeoutMs` (a hang or a retry loop). */
async function exitWithin(
  cli: CliProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running after ${timeoutMs} ms:\n${cli.lines.join("\n")}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([cli.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
