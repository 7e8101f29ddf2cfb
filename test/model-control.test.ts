/**
 * Model control: explicit mode (RepositoryModelLoad / RepositoryModelUnload, the admin token,
 * `loadModels` at start, unloading under queued requests), mode none (the RPCs are refused), and
 * poll mode (a removed folder is unloaded, a bad config.yaml is reported with its file and key and
 * is not served).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import type { ModelInferResponse } from "@sluice/proto";
import type { Sidecar, SidecarOptions } from "@sluice/server";
import {
  f32,
  IDENTITY_FP32,
  makeVersionedRepository,
  ModelClient,
  type ModelSpec,
  ProtocolClient,
  putVersion,
  raw,
  readMetric,
  removeModel,
  SLOW_FP32,
  startTestSidecar,
  statusOf,
  type TestRepository,
  HOLD_QUEUE_MICROS,
  waitFor,
  waitForFullPoll,
  writeModelConfig,
} from "@sluice/testing";

const ADMIN_TOKEN = "model-control-test-token";
/**
 * Requests of "held" wait for a batch of 4096 rows that never fills: only a drain (an unload, a
 * shutdown) runs them. Queued requests then do not depend on the model being slower than their
 * arrival, which a faster runtime (Node.js 24) no longer guaranteed.
 */
const HELD_CONFIG = `max_batch_size: 4096\ndynamic_batching: { max_queue_delay_microseconds: ${HOLD_QUEUE_MICROS} }\n`;
/** A negative batch size: the schema must name the file and the key. */
const NEGATIVE_BATCH_CONFIG = "max_batch_size: -3\n";
/** A misspelt key: strict parsing must name it rather than ignore it. */
const UNKNOWN_KEY_CONFIG = "max_batch: 4\n";

const MODELS: Record<string, ModelSpec> = {
  identity: { source: IDENTITY_FP32, versions: [1] },
  held: { source: SLOW_FP32, versions: [1], config: HELD_CONFIG },
  "negative-batch": { source: IDENTITY_FP32, versions: [1], config: NEGATIVE_BATCH_CONFIG },
  "unknown-key": { source: IDENTITY_FP32, versions: [1], config: UNKNOWN_KEY_CONFIG },
};

interface Harness {
  readonly repository: TestRepository;
  readonly sidecar: Sidecar;
  readonly protocol: ProtocolClient;
  readonly models: ModelClient;
}

async function startHarness(
  options: Partial<SidecarOptions>,
  adminToken?: string,
): Promise<Harness> {
  const repository = await makeVersionedRepository(MODELS);
  const sidecar = await startTestSidecar({
    modelRepository: repository.dir,
    repositoryPollSecs: 1,
    adminToken,
    ...options,
  });
  const protocol = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`);
  return { repository, sidecar, protocol, models: new ModelClient(protocol, adminToken) };
}

async function stopHarness(harness: Harness | undefined): Promise<void> {
  if (harness === undefined) return;
  harness.protocol.close();
  await harness.sidecar.close();
  await harness.repository.remove();
}

function identityRequest(modelName: string) {
  return {
    modelName,
    inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 4n] }],
    rawInputContents: [raw(Float32Array.from([1, 2, 3, 4]))],
  };
}

/** Infers on an identity-fp32 copy and checks the values came back; returns the answering version. */
async function inferIdentity(protocol: ProtocolClient, modelName: string): Promise<string> {
  const response = await protocol.infer(identityRequest(modelName));
  assert.deepEqual([...f32(response.rawOutputContents[0])], [1, 2, 3, 4]);
  return response.modelVersion;
}

describe("explicit mode", () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness({ modelControlMode: "explicit" }, ADMIN_TOKEN);
  });

  after(() => stopHarness(harness));

  it("loads nothing at start", async () => {
    const { models, protocol } = harness;
    for (const name of Object.keys(MODELS)) assert.equal(await models.ready(name), false, name);
    const error = await statusOf(inferIdentity(protocol, "identity"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /model "identity" is not ready/);
    // The index lists the repository's models without a state: none was ever loaded.
    assert.deepEqual(
      await models.index(),
      Object.keys(MODELS)
        .sort()
        .map((name) => ({ name, version: "", state: "", reason: "" })),
    );
    assert.deepEqual(await models.index(true), []);
  });

  it("RepositoryModelLoad loads a model: ready, inference works, the index says READY", async () => {
    const { models, protocol, sidecar } = harness;
    await models.load("identity");
    assert.equal(await models.ready("identity"), true);
    assert.equal(await models.ready("identity", "1"), true);
    assert.equal(await inferIdentity(protocol, "identity"), "1");
    assert.deepEqual(await models.index(true), [
      { name: "identity", version: "1", state: "READY", reason: "" },
    ]);
    assert.equal(
      await readMetric(sidecar.metricsPort, "sluice_model_loads_total", {
        model: "identity",
        version: "1",
        outcome: "success",
      }),
      1,
    );
  });

  it("RepositoryModelUnload unloads it: not ready, NOT_FOUND, the index says UNAVAILABLE unloaded", async () => {
    const { models, protocol, sidecar } = harness;
    await models.unload("identity");
    assert.equal(await models.ready("identity"), false);
    assert.equal(await models.ready("identity", "1"), false);
    const error = await statusOf(inferIdentity(protocol, "identity"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.deepEqual(await models.indexEntry("identity", "1"), {
      name: "identity",
      version: "1",
      state: "UNAVAILABLE",
      reason: "unloaded",
    });
    assert.equal(
      await readMetric(sidecar.metricsPort, "sluice_model_unloads_total", {
        model: "identity",
        version: "1",
      }),
      1,
    );
    // And it loads again.
    await models.load("identity");
    assert.equal(await inferIdentity(protocol, "identity"), "1");
    assert.equal((await models.indexEntry("identity", "1"))?.state, "READY");
  });

  it("loading a model that is not in the repository is NOT_FOUND", async () => {
    const error = await statusOf(harness.models.load("no-such-model"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /"no-such-model" is not in the model repository/);
    assert.deepEqual(await harness.models.indexEntry("no-such-model", ""), undefined);
  });

  it("unloading a model that is not loaded is NOT_FOUND", async () => {
    const { models } = harness;
    for (const name of ["no-such-model", "held"]) {
      const error = await statusOf(models.unload(name));
      assert.equal(error.code, status.NOT_FOUND, name);
      assert.match(error.details, new RegExp(`"${name}" is not loaded`));
    }
  });

  it("unloading a model that was already unloaded is NOT_FOUND", async () => {
    const { models } = harness;
    await models.load("identity");
    await models.unload("identity");
    const error = await statusOf(models.unload("identity"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /"identity" is not loaded/);
  });

  it("load and unload need the admin token", async () => {
    const { protocol } = harness;
    const anonymous = new ModelClient(protocol);
    const wrong = new ModelClient(protocol, "not-the-admin-token");
    for (const [client, code] of [
      [anonymous, status.UNAUTHENTICATED],
      [wrong, status.PERMISSION_DENIED],
    ] as const) {
      assert.equal((await statusOf(client.load("identity"))).code, code);
      assert.equal((await statusOf(client.unload("identity"))).code, code);
    }
    // Reading the repository needs no token.
    assert.ok((await anonymous.index()).length > 0);
  });

  for (const [name, key] of [
    ["negative-batch", /max_batch_size/],
    ["unknown-key", /max_batch\b/],
  ] as const) {
    it(`a bad config.yaml (${name}) fails the load naming the file and the key, and is not served`, async () => {
      const { models, protocol } = harness;
      const error = await statusOf(models.load(name));
      assert.equal(error.code, status.INVALID_ARGUMENT);
      assert.match(error.details, new RegExp(`${name}/config\\.yaml: `));
      assert.match(error.details, key);
      assert.equal(await models.ready(name), false);
      const inferError = await statusOf(inferIdentity(protocol, name));
      assert.equal(inferError.code, status.NOT_FOUND);
      assert.match(inferError.details, new RegExp(`${name}/config\\.yaml`));
      const [entry, ...others] = (await models.index()).filter((e) => e.name === name);
      assert.deepEqual(others, []);
      assert.equal(entry?.state, "UNAVAILABLE");
      assert.match(entry?.reason ?? "", new RegExp(`${name}/config\\.yaml: `));
      assert.match(entry?.reason ?? "", key);
    });
  }

  it("unloading while requests are queued lets those requests complete", async () => {
    const { models, protocol, sidecar } = harness;
    await models.load("held");
    // 48 × 64 rows never fill the 4096-row batch: every request waits in the queue.
    const count = 48;
    const rows = 64;
    const input = raw(Float32Array.from({ length: rows * 64 }, (_, i) => Math.cos(i)));
    const outcomes = Array.from({ length: count }, () =>
      protocol
        .infer({
          modelName: "held",
          inputs: [{ name: "INPUT0", datatype: "FP32", shape: [BigInt(rows), 64n] }],
          rawInputContents: [input],
        })
        .then(
          (response: ModelInferResponse) => ({ ok: true as const, response }),
          (error: { code?: number; details?: string }) => ({
            ok: false as const,
            code: error.code,
            details: error.details,
          }),
        ),
    );
    const queued = await waitFor("every request queued on held", async () => {
      const pending = await readMetric(sidecar.metricsPort, "sluice_inference_pending_requests", {
        model: "held",
      });
      return pending === count ? pending : undefined;
    });
    await models.unload("held");
    const results = await Promise.all(outcomes);
    const succeeded = results.flatMap((result) => (result.ok ? [result.response] : []));
    // Every request was queued before the unload: the drain runs them all.
    assert.deepEqual(
      results.flatMap((result) => (result.ok ? [] : [result])),
      [],
    );
    assert.equal(succeeded.length, queued);
    for (const response of succeeded) {
      assert.equal(response.modelVersion, "1");
      assert.deepEqual(response.outputs[0]?.shape.map(Number), [rows, 64]);
    }
    assert.equal(await models.ready("held"), false);
    assert.equal((await models.indexEntry("held", "1"))?.reason, "unloaded");
  });
});

describe("explicit mode with loadModels", () => {
  let named: Harness;
  let all: Harness;

  before(async () => {
    named = await startHarness({ modelControlMode: "explicit", loadModels: ["identity"] });
    all = await startHarness({ modelControlMode: "explicit", loadModels: ["*"] });
  });

  after(async () => {
    await stopHarness(named);
    await stopHarness(all);
  });

  it("loads the named models at start, and only them", async () => {
    assert.equal(await named.models.ready("identity"), true);
    assert.equal(await named.models.ready("held"), false);
    assert.equal(await inferIdentity(named.protocol, "identity"), "1");
  });

  it('loads every model with "*", and reports the ones that cannot load', async () => {
    assert.equal(await all.models.ready("identity"), true);
    assert.equal(await all.models.ready("held"), true);
    assert.equal(await all.models.ready("negative-batch"), false);
    const [entry] = (await all.models.index()).filter((e) => e.name === "negative-batch");
    assert.equal(entry?.state, "UNAVAILABLE");
    assert.match(entry?.reason ?? "", /negative-batch\/config\.yaml: max_batch_size/);
  });
});

describe("mode none", () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness({ modelControlMode: "none" });
  });

  after(() => stopHarness(harness));

  it("loads every model at start and refuses load and unload with FAILED_PRECONDITION", async () => {
    const { models, protocol } = harness;
    assert.equal(await models.ready("identity"), true);
    assert.equal(await models.ready("held"), true);
    for (const error of [
      await statusOf(models.load("identity")),
      await statusOf(models.unload("identity")),
    ]) {
      assert.equal(error.code, status.FAILED_PRECONDITION);
      assert.match(error.details, /model-control-mode none/);
      assert.match(error.details, /explicit/);
    }
    assert.equal(await inferIdentity(protocol, "identity"), "1");
  });
});

describe("poll mode", () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness({ modelControlMode: "poll" });
  });

  after(() => stopHarness(harness));

  it("refuses load and unload with FAILED_PRECONDITION", async () => {
    const error = await statusOf(harness.models.unload("identity"));
    assert.equal(error.code, status.FAILED_PRECONDITION);
    assert.match(error.details, /model-control-mode poll/);
  });

  it("unloads a model whose folder is removed", async () => {
    const { models, protocol, repository, sidecar } = harness;
    await putVersion(repository.dir, "removable", 1, IDENTITY_FP32);
    await waitFor("the poll to load removable", () => models.ready("removable"));
    assert.equal(await inferIdentity(protocol, "removable"), "1");
    await removeModel(repository.dir, "removable");
    await waitFor("the poll to unload removable", async () => !(await models.ready("removable")));
    assert.equal((await statusOf(inferIdentity(protocol, "removable"))).code, status.NOT_FOUND);
    // Not ready at once; UNLOADING until the version's workers are released, then UNAVAILABLE.
    const entry = await waitFor("version 1 to be unloaded", async () => {
      const now = await models.indexEntry("removable", "1");
      return now?.state === "UNAVAILABLE" && now;
    });
    assert.match(entry?.reason ?? "", /removed from the model repository/);
    assert.equal(
      await readMetric(sidecar.metricsPort, "sluice_model_unloads_total", {
        model: "removable",
        version: "1",
      }),
      1,
    );
  });

  for (const [config, key] of [
    [NEGATIVE_BATCH_CONFIG, /max_batch_size/],
    [UNKNOWN_KEY_CONFIG, /max_batch\b/],
  ] as const) {
    it(`reports a new model's bad config.yaml (${config.trim()}) in the index and serves it once fixed`, async () => {
      const { models, protocol, repository } = harness;
      const name = `late-${config.startsWith("max_batch_size") ? "negative" : "unknown"}`;
      await writeModelConfig(repository.dir, name, config);
      await putVersion(repository.dir, name, 1, IDENTITY_FP32);
      const entry = await waitFor(`the poll to report ${name}`, async () =>
        (await models.index()).find((e) => e.name === name && e.reason !== ""),
      );
      assert.equal(entry.state, "UNAVAILABLE");
      assert.match(entry.reason, new RegExp(`${name}/config\\.yaml: `));
      assert.match(entry.reason, key);
      assert.equal(await models.ready(name), false);
      const error = await statusOf(inferIdentity(protocol, name));
      assert.equal(error.code, status.NOT_FOUND);
      assert.match(error.details, new RegExp(`${name}/config\\.yaml`));

      await writeModelConfig(repository.dir, name, "max_batch_size: 8\n");
      await waitFor(`the poll to load ${name} with the fixed config`, () => models.ready(name));
      assert.equal(await inferIdentity(protocol, name), "1");
    });
  }

  it("keeps serving a model whose config turns bad, and says why in the index", async () => {
    const { models, protocol, repository } = harness;
    await writeModelConfig(repository.dir, "identity", NEGATIVE_BATCH_CONFIG);
    await waitForFullPoll(repository.dir, models);
    assert.equal(await models.ready("identity"), true);
    assert.equal(await inferIdentity(protocol, "identity"), "1");
    const entry = await models.indexEntry("identity", "1");
    assert.equal(entry?.state, "READY");
    assert.match(entry?.reason ?? "", /identity\/config\.yaml: max_batch_size/);
  });
});
