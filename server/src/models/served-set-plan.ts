/**
 * The decisions of a model (re)load, as pure functions: which versions to keep, load or leave
 * alone, and, once the loads are done, the next served set, every version's status, the versions
 * to retire and what the reload answers. No I/O, no clock, no mutation: ModelManager scans the
 * repository, runs the loads and applies the plan (one assignment, then the retirements).
 *
 * The rules, in order of precedence:
 *   - a version serving from the same file under the same config is kept as it is;
 *   - a version that failed before with the same file and config is not retried unless forced
 *     (poll mode does not force; an explicit load does);
 *   - a version that fails to load never replaces a serving one: the previous one keeps serving;
 *   - candidates that could not be served leave room for the versions they were to replace,
 *     newest first, so a bad new version never leaves the model with fewer versions than before.
 */
import type { VersionPolicy } from "../repository/model-config.js";
import {
  MODEL_FILE_NAME,
  type ModelFiles,
  type VersionFiles,
} from "../repository/model-repository.js";
import { ModelError } from "./model-error.js";

/** Triton's model states, as RepositoryIndex reports them. */
export type VersionState = "LOADING" | "READY" | "UNLOADING" | "UNAVAILABLE";

export interface VersionStatus {
  readonly state: VersionState;
  readonly reason: string;
}

/** The status a version retired by a reload ends in. */
export const RETIRED_REASON = "unloaded: replaced or no longer selected by the version policy";

/** What the plan needs of a served version: its number. Versions are told apart by identity. */
export interface Versioned {
  readonly version: number;
}

/** A model's served set and what is known of its versions. */
export interface ServedSet<V extends Versioned> {
  /** Ascending by version. */
  readonly serving: readonly V[];
  readonly statuses: ReadonlyMap<number, VersionStatus>;
  /** The file fingerprint each serving version was loaded from. */
  readonly loadedFrom: ReadonlyMap<V, string>;
  /** Versions that failed, with the file and config fingerprints they failed with. */
  readonly failedWith: ReadonlyMap<number, string>;
}

export interface ReloadInput {
  readonly model: string;
  /** What the repository holds for the model now. */
  readonly files: ModelFiles;
  readonly policy: VersionPolicy;
  /** The config file changed since the last reload: every selected version loads again. */
  readonly configChanged: boolean;
  /** Retry versions that failed before with the same files. */
  readonly force: boolean;
}

export interface LoadPlan<V extends Versioned> {
  /** Versions the policy selects that the repository holds. */
  readonly candidates: readonly VersionFiles[];
  /** Serving versions that stay as they are. */
  readonly kept: readonly V[];
  readonly toLoad: readonly VersionFiles[];
  /** Statuses while the loads run: selected versions missing from disk, and new ones LOADING. */
  readonly statuses: ReadonlyMap<number, VersionStatus>;
  /** Why the model as a whole has nothing to load, or "". */
  readonly reason: string;
}

export type LoadResult<V extends Versioned> =
  | { readonly files: VersionFiles; readonly served: V }
  | { readonly files: VersionFiles; readonly error: Error };

export interface ServedSetPlan<V extends Versioned> {
  /** The model's next state, applied in one assignment. */
  readonly next: ServedSet<V>;
  /** Versions leaving the set: their queues drain, then they are released. */
  readonly retiring: readonly V[];
  /** Each load's outcome in the order of the results: undefined, or why it failed. */
  readonly outcomes: readonly { readonly version: number; readonly failure: string | undefined }[];
  /** What the reload answers once applied; undefined when every selected version serves. */
  readonly error: ModelError | undefined;
}

function selectVersions(
  files: ModelFiles,
  policy: VersionPolicy,
): { candidates: VersionFiles[]; missing: number[] } {
  switch (policy.kind) {
    case "latest":
      return { candidates: files.versions.slice(-policy.numVersions), missing: [] };
    case "all":
      return { candidates: [...files.versions], missing: [] };
    case "specific": {
      const present = new Map(files.versions.map((v) => [v.version, v]));
      return {
        candidates: policy.versions.flatMap((v) => present.get(v) ?? []),
        missing: policy.versions.filter((v) => !present.has(v)),
      };
    }
  }
}

/** What a failure is remembered with: the version's file and the config it failed under. */
function failureKey(version: VersionFiles, files: ModelFiles): string {
  return `${version.fingerprint}|${files.configFingerprint}`;
}

/** Which versions to keep, which to load, and the statuses while they load. */
export function planLoads<V extends Versioned>(
  current: ServedSet<V>,
  input: ReloadInput,
): LoadPlan<V> {
  const { model, files, configChanged, force } = input;
  const { candidates, missing } = selectVersions(files, input.policy);
  const statuses = new Map(current.statuses);
  for (const version of missing) {
    statuses.set(version, {
      state: "UNAVAILABLE",
      reason: "version folder not found in the model repository",
    });
  }
  const reason =
    candidates.length === 0 && missing.length === 0
      ? `no version folder with a ${MODEL_FILE_NAME} (expected ${model}/<version>/${MODEL_FILE_NAME})`
      : "";
  const serving = new Map(current.serving.map((served) => [served.version, served]));
  const kept: V[] = [];
  const toLoad: VersionFiles[] = [];
  for (const candidate of candidates) {
    const existing = serving.get(candidate.version);
    if (
      existing !== undefined &&
      !configChanged &&
      current.loadedFrom.get(existing) === candidate.fingerprint
    ) {
      kept.push(existing);
      continue;
    }
    if (!force && current.failedWith.get(candidate.version) === failureKey(candidate, files)) {
      continue;
    }
    // A version that is serving stays READY while its replacement loads.
    if (existing === undefined) statuses.set(candidate.version, { state: "LOADING", reason: "" });
    toLoad.push(candidate);
  }
  return { candidates, kept, toLoad, statuses, reason };
}

/** The next served set once the loads of `loads` are done, and what the reload answers. */
export function planServedSet<V extends Versioned>(
  current: ServedSet<V>,
  loads: LoadPlan<V>,
  results: readonly LoadResult<V>[],
  input: ReloadInput,
): ServedSetPlan<V> {
  const statuses = new Map(loads.statuses);
  const loadedFrom = new Map(current.loadedFrom);
  const failedWith = new Map(current.failedWith);
  const serving = new Map(current.serving.map((served) => [served.version, served]));
  const next = new Map(loads.kept.map((served) => [served.version, served]));
  const loadedNow = new Set<V>();
  const outcomes: { version: number; failure: string | undefined }[] = [];
  const failures: string[] = [];

  for (const result of results) {
    const version = result.files.version;
    if ("served" in result) {
      next.set(version, result.served);
      loadedFrom.set(result.served, result.files.fingerprint);
      failedWith.delete(version);
      loadedNow.add(result.served);
      outcomes.push({ version, failure: undefined });
      continue;
    }
    const reason = `failed to load: ${result.error.message}`;
    failures.push(`version ${version} ${reason}`);
    failedWith.set(version, failureKey(result.files, input.files));
    outcomes.push({ version, failure: reason });
    const previous = serving.get(version);
    if (previous !== undefined) {
      next.set(version, previous);
      const what = input.configChanged ? "with the new config" : "from the new file";
      statuses.set(version, {
        state: "READY",
        reason: `reload ${what} ${reason}; the previously loaded version keeps serving`,
      });
    } else {
      statuses.set(version, { state: "UNAVAILABLE", reason });
    }
  }
  // A candidate that failed before with the same files (and was not retried) keeps its old file.
  for (const candidate of loads.candidates) {
    const previous = serving.get(candidate.version);
    if (!next.has(candidate.version) && previous !== undefined) {
      next.set(candidate.version, previous);
    }
  }
  // Candidates that could not be served leave room for the versions they were to replace, newest first.
  const shortfall = loads.candidates.filter((candidate) => !next.has(candidate.version)).length;
  const fallback = current.serving.filter((served) => !next.has(served.version)).reverse();
  for (const served of fallback.slice(0, shortfall)) next.set(served.version, served);

  const nextServing = [...next.values()].sort((a, b) => a.version - b.version);
  const retiring = current.serving.filter((served) => next.get(served.version) !== served);
  for (const served of nextServing) {
    // A fresh load clears an earlier failure's reason; a kept version keeps this round's reason.
    if (loadedNow.has(served) || statuses.get(served.version)?.state !== "READY") {
      statuses.set(served.version, { state: "READY", reason: "" });
    }
  }
  for (const served of retiring) {
    loadedFrom.delete(served);
    if (!next.has(served.version)) {
      statuses.set(served.version, { state: "UNAVAILABLE", reason: RETIRED_REASON });
    }
  }

  let error: ModelError | undefined;
  if (nextServing.length === 0) {
    const reasons = [...statuses.entries()].map(([v, s]) => `version ${v}: ${s.reason}`);
    const detail = loads.reason || reasons.join("; ") || "no version could be loaded";
    error = new ModelError("load_failed", `model "${input.model}" has no ready version: ${detail}`);
  } else if (failures.length > 0) {
    // As Triton does, a load that could not apply everything fails, even though older versions serve.
    const versions = nextServing.map((served) => served.version).join(", ");
    error = new ModelError(
      "load_failed",
      `model "${input.model}": ${failures.join("; ")}; still serving version ${versions}`,
    );
  }
  return {
    next: { serving: nextServing, statuses, loadedFrom, failedWith },
    retiring,
    outcomes,
    error,
  };
}
