import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { VersionPolicy } from "../repository/model-config.js";
import type { ModelFiles } from "../repository/model-repository.js";
import {
  RETIRED_REASON,
  planLoads,
  planServedSet,
  type LoadResult,
  type ReloadInput,
  type ServedSet,
  type VersionStatus,
} from "./served-set-plan.js";

/** A served version as the plan sees it; `file` tells two loads of one version apart. */
interface Fake {
  readonly version: number;
  readonly file: string;
}

const LATEST: VersionPolicy = { kind: "latest", numVersions: 1 };

/** The repository holding `versions` (number → file fingerprint) and a config fingerprint. */
function files(versions: Record<number, string>, config = "config-a"): ModelFiles {
  return {
    name: "m",
    dir: "/repo/m",
    versions: Object.entries(versions).map(([version, fingerprint]) => ({
      version: Number(version),
      modelPath: `/repo/m/${version}/model.onnx`,
      fingerprint,
    })),
    configPath: "/repo/m/config.yaml",
    configFingerprint: config,
  };
}

function input(
  repository: ModelFiles,
  options: Partial<Omit<ReloadInput, "files">> = {},
): ReloadInput {
  return {
    model: "m",
    files: repository,
    policy: LATEST,
    configChanged: false,
    force: false,
    ...options,
  };
}

/** The set serving `fakes`, each loaded from its own file. */
function serving(
  fakes: Fake[],
  extra: Partial<Omit<ServedSet<Fake>, "serving" | "loadedFrom">> = {},
): ServedSet<Fake> {
  return {
    serving: fakes,
    statuses: new Map(fakes.map((fake) => [fake.version, { state: "READY", reason: "" }])),
    loadedFrom: new Map(fakes.map((fake) => [fake, fake.file])),
    failedWith: new Map(),
    ...extra,
  };
}

const NOTHING = serving([]);

/** Loads every planned version: those in `failing` fail with "boom", the others succeed. */
function load(
  current: ServedSet<Fake>,
  reload: ReloadInput,
  failing: readonly number[] = [],
): { plan: ReturnType<typeof planServedSet<Fake>>; loads: ReturnType<typeof planLoads<Fake>> } {
  const loads = planLoads(current, reload);
  const results: LoadResult<Fake>[] = loads.toLoad.map((version) =>
    failing.includes(version.version)
      ? { files: version, error: new Error("boom") }
      : { files: version, served: { version: version.version, file: version.fingerprint } },
  );
  return { loads, plan: planServedSet(current, loads, results, reload) };
}

const status = (state: VersionStatus["state"], reason = ""): VersionStatus => ({ state, reason });

describe("planLoads", () => {
  test("a first load loads what the policy selects and marks it LOADING", () => {
    const loads = planLoads(NOTHING, input(files({ 1: "f1", 2: "f2" })));
    assert.deepEqual(
      loads.toLoad.map((v) => v.version),
      [2],
    );
    assert.deepEqual(loads.kept, []);
    assert.deepEqual([...loads.statuses], [[2, status("LOADING")]]);
    assert.equal(loads.reason, "");
  });

  test("a version serving from the same file under the same config is kept, not loaded", () => {
    const v2 = { version: 2, file: "f2" };
    const loads = planLoads(serving([v2]), input(files({ 1: "f1", 2: "f2" })));
    assert.deepEqual(loads.kept, [v2]);
    assert.deepEqual(loads.toLoad, []);
  });

  test("a changed file or a changed config loads the version again; it stays READY meanwhile", () => {
    const v2 = { version: 2, file: "f2" };
    const changedFile = planLoads(serving([v2]), input(files({ 2: "f2-new" })));
    assert.deepEqual(
      changedFile.toLoad.map((v) => v.fingerprint),
      ["f2-new"],
    );
    assert.deepEqual(changedFile.statuses.get(2), status("READY"));
    const changedConfig = planLoads(
      serving([v2]),
      input(files({ 2: "f2" }, "config-b"), { configChanged: true }),
    );
    assert.deepEqual(
      changedConfig.toLoad.map((v) => v.version),
      [2],
    );
  });

  test("poll does not retry a version that failed with the same file and config; a forced load does", () => {
    const failedWith = new Map([[2, "f2|config-a"]]);
    const current = serving([{ version: 1, file: "f1" }], { failedWith });
    const repository = files({ 1: "f1", 2: "f2" });
    assert.deepEqual(planLoads(current, input(repository)).toLoad, []);
    assert.deepEqual(
      planLoads(current, input(repository, { force: true })).toLoad.map((v) => v.version),
      [2],
    );
    const fixed = planLoads(current, input(files({ 1: "f1", 2: "f2-fixed" })));
    assert.deepEqual(
      fixed.toLoad.map((v) => v.version),
      [2],
      "a new file is tried again",
    );
  });

  test("specific versions missing from disk are UNAVAILABLE; no version folder at all is the model's reason", () => {
    const loads = planLoads(
      NOTHING,
      input(files({ 1: "f1" }), { policy: { kind: "specific", versions: [1, 3] } }),
    );
    assert.deepEqual(
      loads.toLoad.map((v) => v.version),
      [1],
    );
    assert.deepEqual(
      loads.statuses.get(3),
      status("UNAVAILABLE", "version folder not found in the model repository"),
    );
    assert.equal(
      planLoads(NOTHING, input(files({}))).reason,
      "no version folder with a model.onnx (expected m/<version>/model.onnx)",
    );
  });
});

describe("planServedSet", () => {
  test("versions that loaded serve, READY, and remember their files", () => {
    const { plan } = load(NOTHING, input(files({ 1: "f1", 2: "f2" }), { policy: { kind: "all" } }));
    assert.deepEqual(plan.next.serving, [
      { version: 1, file: "f1" },
      { version: 2, file: "f2" },
    ]);
    assert.deepEqual(
      [...plan.next.statuses],
      [
        [1, status("READY")],
        [2, status("READY")],
      ],
    );
    assert.deepEqual([...plan.next.loadedFrom.values()], ["f1", "f2"]);
    assert.deepEqual(plan.retiring, []);
    assert.deepEqual(plan.outcomes, [
      { version: 1, failure: undefined },
      { version: 2, failure: undefined },
    ]);
    assert.equal(plan.error, undefined);
  });

  test("a newer version replaces the one the policy drops, which retires UNAVAILABLE", () => {
    const v1 = { version: 1, file: "f1" };
    const { plan } = load(serving([v1]), input(files({ 1: "f1", 2: "f2" })));
    assert.deepEqual(plan.next.serving, [{ version: 2, file: "f2" }]);
    assert.deepEqual(plan.retiring, [v1]);
    assert.deepEqual(plan.next.statuses.get(1), status("UNAVAILABLE", RETIRED_REASON));
    assert.equal(plan.next.loadedFrom.has(v1), false);
    assert.equal(plan.error, undefined);
  });

  test("a version reloaded from a new file replaces the old one of the same number, which stays READY", () => {
    const old = { version: 2, file: "f2" };
    const { plan } = load(serving([old]), input(files({ 2: "f2-new" })));
    assert.deepEqual(plan.next.serving, [{ version: 2, file: "f2-new" }]);
    assert.deepEqual(plan.retiring, [old]);
    assert.deepEqual(plan.next.statuses.get(2), status("READY"));
  });

  test("a new version that fails never replaces the serving one, and the reload fails saying what still serves", () => {
    const v1 = { version: 1, file: "f1" };
    const { plan } = load(serving([v1]), input(files({ 1: "f1", 2: "f2" })), [2]);
    assert.deepEqual(plan.next.serving, [v1], "the version it was to replace keeps serving");
    assert.deepEqual(plan.retiring, []);
    assert.deepEqual(plan.next.statuses.get(1), status("READY"));
    assert.deepEqual(plan.next.statuses.get(2), status("UNAVAILABLE", "failed to load: boom"));
    assert.equal(plan.next.failedWith.get(2), "f2|config-a", "poll will not retry these files");
    assert.deepEqual(plan.outcomes, [{ version: 2, failure: "failed to load: boom" }]);
    assert.equal(plan.error?.code, "load_failed");
    assert.equal(
      plan.error?.message,
      'model "m": version 2 failed to load: boom; still serving version 1',
    );
  });

  test("a failed reload of a serving version keeps the previous load serving, READY with the reason", () => {
    const old = { version: 2, file: "f2" };
    const fromFile = load(serving([old]), input(files({ 2: "f2-bad" })), [2]).plan;
    assert.deepEqual(fromFile.next.serving, [old]);
    assert.deepEqual(fromFile.retiring, []);
    assert.deepEqual(
      fromFile.next.statuses.get(2),
      status(
        "READY",
        "reload from the new file failed to load: boom; the previously loaded version keeps serving",
      ),
    );
    const withConfig = load(
      serving([old]),
      input(files({ 2: "f2" }, "config-b"), { configChanged: true }),
      [2],
    ).plan;
    assert.match(
      withConfig.next.statuses.get(2)?.reason ?? "",
      /^reload with the new config failed/,
    );
    assert.equal(withConfig.next.failedWith.get(2), "f2|config-b");
  });

  test("a version not retried by poll keeps serving without failing the reload", () => {
    const v1 = { version: 1, file: "f1" };
    const failedWith = new Map([[2, "f2|config-a"]]);
    const { plan } = load(serving([v1], { failedWith }), input(files({ 1: "f1", 2: "f2" })));
    assert.deepEqual(plan.next.serving, [v1]);
    assert.deepEqual(plan.outcomes, []);
    assert.equal(plan.error, undefined);
    assert.equal(plan.next.failedWith.get(2), "f2|config-a", "still remembered");
  });

  test("a version that loads after failing is forgotten as a failure and its reason cleared", () => {
    const failedWith = new Map([[1, "f1|config-a"]]);
    const statuses = new Map([[1, status("UNAVAILABLE", "failed to load: boom")]]);
    const { plan } = load(
      serving([], { failedWith, statuses }),
      input(files({ 1: "f1-fixed" }), { force: true }),
    );
    assert.equal(plan.next.failedWith.has(1), false);
    assert.deepEqual(plan.next.statuses.get(1), status("READY"));
  });

  test("nothing to serve fails the reload with every version's reason", () => {
    const { plan } = load(NOTHING, input(files({ 1: "f1" })), [1]);
    assert.deepEqual(plan.next.serving, []);
    assert.equal(plan.error?.code, "load_failed");
    assert.equal(
      plan.error?.message,
      'model "m" has no ready version: version 1: failed to load: boom',
    );
    const empty = load(NOTHING, input(files({}))).plan;
    assert.equal(
      empty.error?.message,
      'model "m" has no ready version: no version folder with a model.onnx (expected m/<version>/model.onnx)',
    );
  });

  test("with every version of the policy failing, the newest serving versions stay, up to the shortfall", () => {
    const v1 = { version: 1, file: "f1" };
    const v2 = { version: 2, file: "f2" };
    const { plan } = load(
      serving([v1, v2]),
      input(files({ 1: "f1", 2: "f2", 3: "f3" }), { policy: { kind: "latest", numVersions: 1 } }),
      [3],
    );
    assert.deepEqual(plan.next.serving, [v2], "one candidate failed: one version falls back");
    assert.deepEqual(plan.retiring, [v1]);
    assert.deepEqual(plan.next.statuses.get(1), status("UNAVAILABLE", RETIRED_REASON));
    assert.match(
      plan.error?.message ?? "",
      /version 3 failed to load: boom; still serving version 2$/,
    );
  });

  test("the plan does not change the state it was given", () => {
    const v1 = { version: 1, file: "f1" };
    const current = serving([v1]);
    const before = structuredClone({
      statuses: [...current.statuses],
      failedWith: [...current.failedWith],
      loadedFrom: [...current.loadedFrom],
    });
    load(current, input(files({ 2: "f2" })), [2]);
    assert.deepEqual(
      {
        statuses: [...current.statuses],
        failedWith: [...current.failedWith],
        loadedFrom: [...current.loadedFrom],
      },
      before,
    );
  });
});
