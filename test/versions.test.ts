/**
 * Which versions of a model are served and which version answers a request: the version policies
 * (latest N, all, specific), the newest ready version for requests naming none, version numbers and
 * labels, the errors for versions and labels that do not exist, ModelMetadata and ModelReady per
 * version; and the model-name checks that keep RepositoryModelLoad inside the repository, symlinks
 * included.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import type { Sidecar } from "@sluice/server";
import {
  f32,
  IDENTITY_FP32,
  makeVersionedRepository,
  ModelClient,
  ProtocolClient,
  putVersion,
  raw,
  startTestSidecar,
  statusOf,
  type TestRepository,
} from "@sluice/testing";

/** Served by the sidecar at start; the other folders exist only to be refused. */
const SERVED_MODELS = ["latest-default", "latest-two", "all-versions", "specific", "labelled"];

let base: string;
let repository: TestRepository;
let sidecar: Sidecar;
let protocol: ProtocolClient;
let models: ModelClient;

before(async () => {
  // The repository sits in a folder of its own so that `../etc` names a real, loadable model
  // outside it: a broken name check would load it instead of failing for a missing folder.
  base = await mkdtemp(join(tmpdir(), "sluice-versions-test-"));
  repository = await makeVersionedRepository(
    {
      "latest-default": { source: IDENTITY_FP32, versions: [1, 2, 3] },
      "latest-two": {
        source: IDENTITY_FP32,
        versions: [1, 2, 3],
        config: "version_policy:\n  latest:\n    num_versions: 2\nlabels:\n  old: 1\n",
      },
      "all-versions": {
        source: IDENTITY_FP32,
        versions: [1, 2, 3],
        config: "version_policy:\n  all: {}\n",
      },
      specific: {
        source: IDENTITY_FP32,
        versions: [1, 2, 3],
        config: "version_policy:\n  specific:\n    versions: [1, 3, 7]\n",
      },
      labelled: {
        source: IDENTITY_FP32,
        versions: [1, 2],
        config: "version_policy:\n  all: {}\nlabels:\n  stable: 1\n  canary: 2\n",
      },
      // Valid models under names a client must not be able to reach.
      ".hidden": { source: IDENTITY_FP32, versions: [1] },
      "a/b": { source: IDENTITY_FP32, versions: [1] },
    },
    join(base, "repo"),
  );
  await putVersion(base, "etc", 1, IDENTITY_FP32);
  await putVersion(base, "outside", 1, IDENTITY_FP32);
  // A model folder that is a symlink to a model outside, and a version file that is one.
  await symlink(join(base, "outside"), join(repository.dir, "escaped"), "dir");
  await mkdir(join(repository.dir, "linked-file", "1"), { recursive: true });
  await symlink(
    join(base, "outside", "1", "model.onnx"),
    join(repository.dir, "linked-file", "1", "model.onnx"),
  );

  sidecar = await startTestSidecar({
    modelRepository: repository.dir,
    modelControlMode: "explicit",
    loadModels: SERVED_MODELS,
  });
  protocol = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`);
  models = new ModelClient(protocol);
});

after(async () => {
  protocol?.close();
  await sidecar?.close();
  await rm(base, { recursive: true, force: true });
});

/** Infers on identity-fp32 copies; checks the values came back and returns the answering version. */
async function inferVersion(modelName: string, modelVersion = ""): Promise<string> {
  const input = Float32Array.from([1, 2, 3, 4]);
  const response = await protocol.infer({
    modelName,
    modelVersion,
    inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 4n] }],
    rawInputContents: [raw(input)],
  });
  assert.deepEqual([...f32(response.rawOutputContents[0])], [...input]);
  assert.equal(response.modelName, modelName);
  return response.modelVersion;
}

async function readyVersions(
  name: string,
  versions: readonly number[],
): Promise<Record<string, boolean>> {
  const ready: Record<string, boolean> = {};
  for (const version of versions) ready[version] = await models.ready(name, String(version));
  return ready;
}

async function indexOf(name: string) {
  return (await models.index()).filter((entry) => entry.name === name);
}

describe("version policies", () => {
  it("latest with the default of one version serves only the newest", async () => {
    assert.deepEqual((await models.metadata("latest-default")).versions, ["3"]);
    assert.deepEqual(await readyVersions("latest-default", [1, 2, 3]), {
      1: false,
      2: false,
      3: true,
    });
    assert.equal(await inferVersion("latest-default"), "3");
    assert.equal(await inferVersion("latest-default", "3"), "3");
    assert.deepEqual(await indexOf("latest-default"), [
      { name: "latest-default", version: "3", state: "READY", reason: "" },
    ]);
  });

  it("latest with num_versions: 2 serves the two newest", async () => {
    assert.deepEqual((await models.metadata("latest-two")).versions, ["2", "3"]);
    assert.deepEqual(await readyVersions("latest-two", [1, 2, 3]), { 1: false, 2: true, 3: true });
    assert.equal(await inferVersion("latest-two"), "3");
    assert.equal(await inferVersion("latest-two", "2"), "2");
    assert.equal(await inferVersion("latest-two", "3"), "3");
  });

  it("all serves every version", async () => {
    assert.deepEqual((await models.metadata("all-versions")).versions, ["1", "2", "3"]);
    assert.deepEqual(await readyVersions("all-versions", [1, 2, 3]), { 1: true, 2: true, 3: true });
    for (const version of ["1", "2", "3"])
      assert.equal(await inferVersion("all-versions", version), version);
    assert.equal(await inferVersion("all-versions"), "3");
  });

  it("specific serves the listed versions, and reports a listed version without a folder as UNAVAILABLE", async () => {
    assert.deepEqual((await models.metadata("specific")).versions, ["1", "3"]);
    assert.deepEqual(await readyVersions("specific", [1, 2, 3, 7]), {
      1: true,
      2: false,
      3: true,
      7: false,
    });
    assert.equal(await inferVersion("specific"), "3");
    assert.equal(await inferVersion("specific", "1"), "1");
    const entries = await indexOf("specific");
    assert.deepEqual(
      entries.map((entry) => [entry.version, entry.state]),
      [
        ["1", "READY"],
        ["3", "READY"],
        ["7", "UNAVAILABLE"],
      ],
    );
    assert.match(
      entries.find((entry) => entry.version === "7")!.reason,
      /version folder not found/,
    );
  });
});

describe("which version answers", () => {
  it("labels resolve to their versions", async () => {
    assert.equal(await inferVersion("labelled", "stable"), "1");
    assert.equal(await inferVersion("labelled", "canary"), "2");
    assert.equal(await inferVersion("labelled"), "2");
    assert.equal(await models.ready("labelled", "stable"), true);
    assert.equal(await models.ready("labelled", "canary"), true);
    assert.equal((await models.metadata("labelled", "stable")).name, "labelled");
  });

  it("ModelMetadata of any version lists every ready version", async () => {
    for (const version of ["", "1", "2", "stable"]) {
      assert.deepEqual(
        (await models.metadata("labelled", version)).versions,
        ["1", "2"],
        `version "${version}"`,
      );
    }
  });

  it("an unknown version number is NOT_FOUND and names the ready versions", async () => {
    const error = await statusOf(inferVersion("latest-two", "1"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /no ready version 1/);
    assert.match(error.details, /ready versions: 2, 3/);
    const metadataError = await statusOf(models.metadata("all-versions", "9"));
    assert.equal(metadataError.code, status.NOT_FOUND);
    assert.match(metadataError.details, /ready versions: 1, 2, 3/);
  });

  it("an unknown label is NOT_FOUND and names the labels there are", async () => {
    const error = await statusOf(inferVersion("labelled", "beta"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /"beta"/);
    assert.match(error.details, /"stable"/);
    assert.match(error.details, /"canary"/);
    const none = await statusOf(inferVersion("latest-default", "stable"));
    assert.equal(none.code, status.NOT_FOUND);
    assert.match(none.details, /labels: none/);
    assert.equal(await models.ready("labelled", "beta"), false);
  });

  it("a label of a version that is not served is NOT_FOUND and says which version it names", async () => {
    const error = await statusOf(inferVersion("latest-two", "old"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /no ready version 1 \(label "old"\)/);
    assert.equal(await models.ready("latest-two", "old"), false);
  });

  it("an unknown model is NOT_FOUND and names the ready models", async () => {
    const error = await statusOf(inferVersion("no-such-model"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /"no-such-model"/);
    assert.match(error.details, /ready models: .*"labelled"/);
  });
});

describe("model names stay inside the repository", () => {
  for (const name of ["../etc", "a/b", ".hidden", ""]) {
    it(`RepositoryModelLoad ${JSON.stringify(name)} is INVALID_ARGUMENT and loads nothing`, async () => {
      const error = await statusOf(models.load(name));
      assert.equal(error.code, status.INVALID_ARGUMENT);
      assert.match(error.details, /model name: expected/);
      assert.equal(await models.ready(name), false);
      assert.equal((await statusOf(inferVersion(name))).code, status.NOT_FOUND);
      assert.deepEqual(await indexOf(name), []);
    });
  }

  it("a hidden folder and an outside folder are never listed", async () => {
    const names = new Set((await models.index()).map((entry) => entry.name));
    for (const name of [".hidden", "etc", "../etc", "outside", "b", "a/b"])
      assert.ok(!names.has(name), `index lists "${name}"`);
    // The listed names are exactly the plain folders, served or not.
    assert.deepEqual([...names].sort(), [
      "a",
      "all-versions",
      "labelled",
      "latest-default",
      "latest-two",
      "linked-file",
      "specific",
    ]);
  });

  it("a model folder that is a symlink to outside the repository is neither listed nor loaded", async () => {
    assert.ok(
      (await stat(join(repository.dir, "escaped", "1", "model.onnx"))).isFile(),
      "the symlink resolves to a model",
    );
    assert.deepEqual(await indexOf("escaped"), []);
    const error = await statusOf(models.load("escaped"));
    assert.equal(error.code, status.NOT_FOUND);
    assert.match(error.details, /not in the model repository/);
    assert.equal(await models.ready("escaped"), false);
    assert.equal((await statusOf(inferVersion("escaped"))).code, status.NOT_FOUND);
  });

  it("a version file that is a symlink to outside the repository is not loaded", async () => {
    assert.ok(
      (await stat(join(repository.dir, "linked-file", "1", "model.onnx"))).isFile(),
      "the symlink resolves to a model",
    );
    const error = await statusOf(models.load("linked-file"));
    assert.match(error.details, /no version folder with a model\.onnx/);
    assert.equal(await models.ready("linked-file"), false);
    assert.equal(await models.ready("linked-file", "1"), false);
    assert.equal((await statusOf(inferVersion("linked-file"))).code, status.NOT_FOUND);
  });
});
