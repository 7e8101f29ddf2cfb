/**
 * Hot-swapping model versions under continuous load: 16 client loops send requests back to back
 * while versions are added, broken, replaced and fixed, in poll mode and through
 * RepositoryModelLoad. What a user relies on: no request fails, each client moves to the new
 * version once and never back, a new version answers only after it loaded and warmed up, the old
 * one is released after its queue drained, and a version that cannot load or warm up never
 * replaces the one serving.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ModelInferResponse } from "@sluice/proto";
import type { Sidecar } from "@sluice/server";
import {
  f32,
  FIXTURE_MODELS,
  type IndexEntry,
  LoadGenerator,
  makeVersionedRepository,
  matMulModel,
  ModelClient,
  ProtocolClient,
  putVersion,
  raw,
  readMetric,
  SLOW_FP32,
  startTestSidecar,
  type TestRepository,
  waitFor,
  waitForFullPoll,
  writeModelConfig,
} from "@sluice/testing";

const MODEL = "slow";
const LOOPS = 16;
/** Channels the loops share: several connections, as several client processes would have. */
const CHANNELS = 4;
/** Successful requests around each action, so every swap happens in the middle of real load. */
const REQUESTS_AROUND = 150;
const SLOW_CONFIG = await readFile(join(FIXTURE_MODELS, "slow-fp32", "config.yaml"), "utf8");
const GARBAGE = Buffer.from("this is not an ONNX model\n".repeat(64));

/** One row of the slow model's input; every request repeats it, so every output row must equal `reference`. */
const ROW = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i + 1));

interface Harness {
  readonly repository: TestRepository;
  readonly sidecar: Sidecar;
  readonly channels: readonly ProtocolClient[];
  readonly models: ModelClient;
  /** The slow model's output for ROW, from version 1 before any swap. */
  readonly reference: Float32Array;
}

function request(modelName: string, rows: number) {
  const input = new Float32Array(rows * ROW.length);
  for (let r = 0; r < rows; r++) input.set(ROW, r * ROW.length);
  return {
    modelName,
    inputs: [{ name: "INPUT0", datatype: "FP32", shape: [BigInt(rows), BigInt(ROW.length)] }],
    rawInputContents: [raw(input)],
  };
}

/** Every version is a copy of the same file, so every version must compute the same rows. */
function checkRows(reference: Float32Array) {
  return (response: ModelInferResponse): void => {
    const output = f32(response.rawOutputContents[0]);
    const rows = Number(response.outputs[0]?.shape[0]);
    if (output.length !== rows * reference.length) {
      throw new Error(`expected ${rows} x ${reference.length} values, got ${output.length}`);
    }
    for (let i = 0; i < output.length; i++) {
      const want = reference[i % reference.length]!;
      // Batch size changes the kernel ORT picks, so the last bits may differ between batches.
      if (Math.abs(output[i]! - want) > 1e-4 * Math.max(1, Math.abs(want))) {
        throw new Error(
          `version ${response.modelVersion}: value ${i} is ${output[i]}, expected ${want}`,
        );
      }
    }
  };
}

async function startHarness(mode: "poll" | "explicit"): Promise<Harness> {
  const repository = await makeVersionedRepository({
    [MODEL]: { source: SLOW_FP32, versions: [1], config: SLOW_CONFIG },
  });
  const sidecar = await startTestSidecar({
    modelRepository: repository.dir,
    modelControlMode: mode,
    repositoryPollSecs: 1,
    loadModels: [MODEL],
  });
  const channels = Array.from(
    { length: CHANNELS },
    () => new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`),
  );
  const first = await channels[0]!.infer(request(MODEL, 1));
  assert.equal(first.modelVersion, "1");
  return {
    repository,
    sidecar,
    channels,
    models: new ModelClient(channels[0]!),
    reference: f32(first.rawOutputContents[0]),
  };
}

async function stopHarness(harness: Harness | undefined): Promise<void> {
  if (harness === undefined) return;
  for (const channel of harness.channels) channel.close();
  await harness.sidecar.close();
  await harness.repository.remove();
}

function startLoad(harness: Harness): LoadGenerator {
  return new LoadGenerator({
    clients: harness.channels,
    loops: LOOPS,
    // 1 to 4 rows, so requests of different sizes share batches.
    request: (loop, n) => request(MODEL, 1 + ((loop + n) % 4)),
    check: checkRows(harness.reference),
  });
}

/**
 * What every phase needs of a stopped load: nothing failed, nobody went back a version. (Called
 * after the `finally` that stops the load, so a failed wait is reported as itself.)
 */
function assertClean(load: LoadGenerator): void {
  assert.deepEqual(
    load.failures,
    [],
    `${load.failureCount} of ${load.completed + load.failureCount} requests failed`,
  );
  assert.deepEqual(load.regressions(), []);
}

/**
 * Runs `change` under load, with REQUESTS_AROUND answers before and after it; the load is stopped
 * however it ends, then asserted clean. Resolves with the stopped load.
 */
async function underLoad(
  harness: Harness,
  change: (load: LoadGenerator) => Promise<void>,
): Promise<LoadGenerator> {
  const load = startLoad(harness);
  try {
    await load.waitForMore(REQUESTS_AROUND);
    await change(load);
    await load.waitForMore(REQUESTS_AROUND);
  } finally {
    await load.stop();
  }
  assertClean(load);
  return load;
}

/** Waits until `version` was unloaded (UNAVAILABLE, reason "unloaded…"). */
async function waitForRelease(models: ModelClient, version: number): Promise<void> {
  const released = await waitForEntry(
    models,
    version,
    "released",
    (entry) => entry.state === "UNAVAILABLE",
  );
  assert.match(released.reason, /^unloaded/);
}

/** `version` is READY in the index, with no failed reload to report. */
async function assertReady(models: ModelClient, version: number): Promise<void> {
  assert.deepEqual(await models.indexEntry(MODEL, String(version)), {
    name: MODEL,
    version: String(version),
    state: "READY",
    reason: "",
  });
}

async function waitForEntry(
  models: ModelClient,
  version: number,
  what: string,
  matches: (entry: IndexEntry) => boolean,
): Promise<IndexEntry> {
  return waitFor(`RepositoryIndex: ${MODEL} version ${version} ${what}`, async () => {
    const entry = await models.indexEntry(MODEL, String(version));
    return entry !== undefined && matches(entry) ? entry : undefined;
  });
}

const loads = (harness: Harness, version: number, outcome: "success" | "failure") =>
  readMetric(harness.sidecar.metricsPort, "sluice_model_loads_total", {
    model: MODEL,
    version: String(version),
    outcome,
  });
const unloads = (harness: Harness, version: number) =>
  readMetric(harness.sidecar.metricsPort, "sluice_model_unloads_total", {
    model: MODEL,
    version: String(version),
  });

describe("poll mode: versions change in the repository under load", () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness("poll");
  });

  after(() => stopHarness(harness));

  it("picks up a new version only after load and warm-up, then releases the old one once drained", async () => {
    const { models } = harness;
    const load = startLoad(harness);
    /** What was seen whenever the index said version 2 was loading. */
    const whileLoading: { readyBefore: boolean; answeredByV2: number }[] = [];
    try {
      await load.waitForMore(REQUESTS_AROUND);
      await putVersion(harness.repository.dir, MODEL, 2, SLOW_FP32);
      await waitFor("version 2 to load and serve", async () => {
        // ModelReady first, then the index: if the index still says LOADING, ModelReady must have
        // been false and no response can have come from version 2 before the index was asked.
        const readyBefore = await models.ready(MODEL, "2");
        const askedAt = performance.now();
        const entry = await models.indexEntry(MODEL, "2");
        if (entry?.state === "LOADING") {
          const answeredByV2 = load.samples
            .flat()
            .filter((s) => s.version === "2" && s.receivedAt < askedAt).length;
          whileLoading.push({ readyBefore, answeredByV2 });
        }
        return entry?.state === "READY";
      });
      await load.waitUntilEveryLoopSaw("2");
      await waitForRelease(models, 1);
      await load.waitForMore(REQUESTS_AROUND);
    } finally {
      await load.stop();
    }
    assertClean(load);
    assert.ok(
      whileLoading.length > 0,
      "the index never showed version 2 LOADING (warm-up too fast to observe?)",
    );
    assert.deepEqual(
      whileLoading.filter((seen) => seen.readyBefore || seen.answeredByV2 > 0),
      [],
      "version 2 answered or was ready while it was still loading",
    );
    const counts = load.versionCounts();
    assert.ok(
      (counts.get("1") ?? 0) >= REQUESTS_AROUND,
      `version 1 answered ${counts.get("1")} requests`,
    );
    assert.ok(
      (counts.get("2") ?? 0) >= REQUESTS_AROUND,
      `version 2 answered ${counts.get("2")} requests`,
    );
    assert.deepEqual((await models.metadata(MODEL)).versions, ["2"]);
    assert.equal(await models.ready(MODEL, "1"), false);
    assert.equal(await unloads(harness, 1), 1);
    assert.equal(await loads(harness, 2, "success"), 1);
  });

  it("keeps serving version 2 when version 3 is corrupt, and picks up a valid version 3 later", async () => {
    const { models } = harness;
    let load = await underLoad(harness, async () => {
      await putVersion(harness.repository.dir, MODEL, 3, GARBAGE);
      const failed = await waitForEntry(
        models,
        3,
        "failed",
        (entry) => entry.state === "UNAVAILABLE",
      );
      assert.match(failed.reason, /failed to load: .*slow\/3\/model\.onnx/);
      // A later poll does not retry the same broken file (and does not drop version 2).
      await waitForFullPoll(harness.repository.dir, models);
    });
    assert.deepEqual([...load.versionCounts().keys()], ["2"]);
    assert.equal(await models.ready(MODEL, "3"), false);
    assert.equal(await models.ready(MODEL, "2"), true);
    await assertReady(models, 2);
    assert.equal(await loads(harness, 3, "failure"), 1);

    load = await underLoad(harness, async (load) => {
      await putVersion(harness.repository.dir, MODEL, 3, SLOW_FP32);
      await load.waitUntilEveryLoopSaw("3");
      await waitForRelease(models, 2);
    });
    await assertReady(models, 3);
    assert.equal(await loads(harness, 3, "success"), 1);
    assert.equal(await unloads(harness, 2), 1);
  });

  it("keeps serving when a config change contradicts the model, and applies the config once it is fixed", async () => {
    const { models } = harness;
    const failuresBefore = await loads(harness, 3, "failure");
    let load = await underLoad(harness, async () => {
      await writeModelConfig(
        harness.repository.dir,
        MODEL,
        `${SLOW_CONFIG}inputs:\n  - name: INPUT0\n    dims: [32]\n`,
      );
      const kept = await waitForEntry(
        models,
        3,
        "to report the failed reload",
        (entry) => entry.reason !== "",
      );
      assert.equal(kept.state, "READY");
      assert.match(kept.reason, /dims \[32\] contradict the model's \[64\]/);
      assert.match(kept.reason, /keeps serving/);
    });
    assert.deepEqual([...load.versionCounts().keys()], ["3"]);
    assert.equal(await loads(harness, 3, "failure"), failuresBefore + 1);

    load = await underLoad(harness, async () => {
      await writeModelConfig(harness.repository.dir, MODEL, `${SLOW_CONFIG}labels:\n  stable: 3\n`);
      // The version reloaded with the new config: its label resolves, and the old instance went.
      await waitFor("the fixed config to be applied", () => models.ready(MODEL, "stable"));
      await waitFor(
        "the previous load of version 3 to be released",
        async () => (await unloads(harness, 3)) === 1,
      );
    });
    assert.deepEqual([...load.versionCounts().keys()], ["3"]);
    await assertReady(models, 3);
  });

  it("keeps serving the loaded file when the serving version's file is replaced with a corrupt one", async () => {
    const { models } = harness;
    const failuresBefore = await loads(harness, 3, "failure");
    const load = await underLoad(harness, async () => {
      await putVersion(harness.repository.dir, MODEL, 3, GARBAGE);
      const kept = await waitForEntry(models, 3, "to report the corrupt file", (entry) =>
        /slow\/3\/model\.onnx/.test(entry.reason),
      );
      assert.equal(kept.state, "READY");
      assert.match(
        kept.reason,
        /^reload from the new file failed to load: .*; the previously loaded version keeps serving$/,
      );
    });
    // Every response came from version 3 and passed the output check: the old file computed them.
    assert.deepEqual([...load.versionCounts().keys()], ["3"]);
    assert.equal(await models.ready(MODEL, "3"), true);
    assert.equal(await loads(harness, 3, "failure"), failuresBefore + 1);
  });

  it("never replaces the serving version with one whose warm-up fails", async () => {
    const { models } = harness;
    const load = await underLoad(harness, async () => {
      // Loads fine, but its first warm-up run (batch 1, zeros [1, 1]) fails: [1, 1] @ [4, 4].
      await putVersion(harness.repository.dir, MODEL, 4, matMulModel());
      const failed = await waitForEntry(
        models,
        4,
        "failed",
        (entry) => entry.state === "UNAVAILABLE",
      );
      // The runtime's own error, as the reason: ONNX Runtime's native log line stays off stderr.
      assert.match(failed.reason, /failed to load: warm-up with batch size 1 failed: .*MatMul/);
    });
    assert.deepEqual([...load.versionCounts().keys()], ["3"]);
    assert.equal(await models.ready(MODEL, "4"), false);
    assert.deepEqual((await models.metadata(MODEL)).versions, ["3"]);
    assert.equal(await loads(harness, 4, "failure"), 1);
    assert.equal(await loads(harness, 4, "success"), 0);
  });
});

describe("explicit mode: RepositoryModelLoad swaps versions under load", () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness("explicit");
  });

  after(() => stopHarness(harness));

  it("serves a new version only once loaded, and from the moment RepositoryModelLoad returns", async () => {
    const { models } = harness;
    const load = startLoad(harness);
    let loadedAt: number;
    try {
      await load.waitForMore(REQUESTS_AROUND);
      await putVersion(harness.repository.dir, MODEL, 2, SLOW_FP32);
      // Explicit mode does not watch the repository: version 1 keeps answering until told.
      await load.waitForMore(REQUESTS_AROUND);
      assert.deepEqual([...load.versionCounts().keys()], ["1"]);
      await models.load(MODEL);
      loadedAt = performance.now();
      // The RPC returns once the swap is done and version 1 drained and went.
      assert.equal(await models.ready(MODEL, "2"), true);
      assert.equal(await models.ready(MODEL, "1"), false);
      const released = await models.indexEntry(MODEL, "1");
      assert.equal(released?.state, "UNAVAILABLE");
      assert.match(released?.reason ?? "", /^unloaded/);
      assert.equal(await unloads(harness, 1), 1);
      await load.waitUntilEveryLoopSaw("2");
      await load.waitForMore(REQUESTS_AROUND);
    } finally {
      await load.stop();
    }
    assertClean(load);
    const late = load.samples.flat().filter((s) => s.sentAt > loadedAt && s.version !== "2");
    assert.deepEqual(
      late,
      [],
      "requests sent after RepositoryModelLoad returned were answered by the old version",
    );
    assert.equal(await loads(harness, 2, "success"), 1);
  });

  it("keeps serving version 2 when RepositoryModelLoad meets a corrupt version 3", async () => {
    const { models } = harness;
    const load = await underLoad(harness, async () => {
      await putVersion(harness.repository.dir, MODEL, 3, GARBAGE);
      // Whatever the RPC answers, what must hold is below: version 2 keeps serving, 3 is reported.
      await models.load(MODEL).catch(() => undefined);
      const failed = await models.indexEntry(MODEL, "3");
      assert.equal(failed?.state, "UNAVAILABLE");
      assert.match(failed?.reason ?? "", /failed to load/);
    });
    assert.deepEqual([...load.versionCounts().keys()], ["2"]);
    assert.equal(await models.ready(MODEL, "3"), false);
    assert.equal(await loads(harness, 3, "failure"), 1);
  });
});
