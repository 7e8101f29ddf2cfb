/**
 * Which versions of which models are served, and the hot-swap between them.
 *
 * A (re)load scans the model's folder, picks versions by the version policy, loads and warms up
 * every version that is new or whose file changed, and only then swaps the served set in one
 * assignment. Requests resolve their version synchronously and queue on it at once, so a request
 * never sees a half-swapped model; versions that leave the set are drained (their queued and running
 * requests finish on them) and then released. A version that fails to load or warm up never replaces
 * a serving one: the previous version keeps serving and the failure is reported with its reason.
 */
import { asError, errorMessage, type Logger } from "@sluice/kit";
import type { ServerObserver } from "../observability/observer.js";
import { readModelConfig, type ModelConfig } from "../repository/model-config.js";
import {
  assertModelName,
  type ModelFiles,
  type ModelRepository,
  type VersionFiles,
} from "../repository/model-repository.js";
import type { ModelRuntime } from "../runtime/model-runtime.js";
import { ModelError } from "./model-error.js";
import { ServedVersion } from "./served-version.js";

/** Triton's model states, as RepositoryIndex reports them. */
export type VersionState = "LOADING" | "READY" | "UNLOADING" | "UNAVAILABLE";

export interface IndexEntry {
  readonly name: string;
  /** "" for a model that has no version status yet (never loaded). */
  readonly version: string;
  readonly state: VersionState | "";
  readonly reason: string;
}

export interface ModelManagerOptions {
  readonly repository: ModelRepository;
  readonly runtime: ModelRuntime;
  readonly logger: Logger;
  /** Told of every load, unload and executed batch. */
  readonly observer: ModelObserver;
}

/** What the model layer reports: versions loaded and unloaded, and batches executed. */
export type ModelObserver = Pick<
  ServerObserver,
  "versionLoaded" | "versionUnloaded" | "batchExecuted"
>;

interface VersionStatus {
  state: VersionState;
  reason: string;
}

class ModelEntry {
  /** Ascending by version; replaced, never mutated, so a reader always sees a whole set. */
  serving: readonly ServedVersion[] = [];
  labels: ReadonlyMap<string, number> = new Map();
  readonly statuses = new Map<number, VersionStatus>();
  /** File fingerprint each serving version was loaded from. */
  readonly loadedFrom = new Map<ServedVersion, string>();
  /** Candidates that failed, by version, with the fingerprints they failed with (poll does not retry them). */
  readonly failedWith = new Map<number, string>();
  configFingerprint: string | undefined;
  /** Why the model as a whole is not (fully) served: config errors, a missing folder. */
  reason = "";
  /** Loads and unloads of one model run one after another. */
  queue: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string) {}
}

function selectVersions(
  files: ModelFiles,
  config: ModelConfig,
): { candidates: VersionFiles[]; missing: number[] } {
  const policy = config.versionPolicy;
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

export class ModelManager {
  private readonly models = new Map<string, ModelEntry>();
  private closed = false;

  constructor(private readonly options: ModelManagerOptions) {}

  private entry(name: string): ModelEntry {
    let entry = this.models.get(name);
    if (entry === undefined) {
      entry = new ModelEntry(name);
      this.models.set(name, entry);
    }
    return entry;
  }

  private serialize<T>(entry: ModelEntry, work: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(work, work);
    entry.queue = run.catch(() => undefined);
    return run;
  }

  /** Loads every model of the repository (modes none and poll). Failures are reported, not thrown. */
  async loadAll(): Promise<void> {
    const names = await this.options.repository.listModels();
    await Promise.all(
      names.map((name) => this.load(name, { force: false }).catch(() => undefined)),
    );
  }

  /**
   * Rescans the repository (poll mode): loads new models, reloads changed ones, unloads removed
   * ones. Versions that already failed with the same files are not retried until they change.
   */
  async poll(): Promise<void> {
    const names = new Set(await this.options.repository.listModels());
    for (const name of this.models.keys()) names.add(name);
    for (const name of names) {
      if (this.closed) return;
      await this.load(name, { force: false }).catch(() => undefined);
    }
  }

  /**
   * (Re)loads one model. Resolves when the served set is final; rejects with a ModelError when the
   * model does not exist or nothing of it could be served, saying why.
   */
  load(name: string, { force }: { force: boolean } = { force: true }): Promise<void> {
    try {
      assertModelName(name);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    const entry = this.entry(name);
    return this.serialize(entry, () => this.reload(entry, force));
  }

  private async reload(entry: ModelEntry, force: boolean): Promise<void> {
    if (this.closed) throw new ModelError("unavailable", "the server is shutting down");
    const { repository, runtime, logger } = this.options;
    const files = await repository.scanModel(entry.name);
    if (files === undefined) {
      const hadAny = entry.serving.length > 0 || entry.statuses.size > 0;
      await this.retireAll(entry, "removed from the model repository");
      entry.reason = "not found in the model repository";
      if (!hadAny) this.models.delete(entry.name);
      throw new ModelError("not_found", `model "${entry.name}" is not in the model repository`);
    }

    let config: ModelConfig;
    try {
      config = await readModelConfig(entry.name, files.configPath);
    } catch (error) {
      const reason =
        error instanceof ModelError ? error.message : `reading the config: ${errorMessage(error)}`;
      entry.reason =
        entry.serving.length > 0
          ? `${reason}; the served versions keep their previous config`
          : reason;
      entry.configFingerprint = files.configFingerprint;
      logger.error(
        { model: entry.name, reason },
        "model config is invalid; serving versions are kept",
      );
      throw new ModelError("invalid_config", `model "${entry.name}": ${reason}`, { cause: error });
    }
    const configChanged = entry.configFingerprint !== files.configFingerprint;
    entry.configFingerprint = files.configFingerprint;
    entry.reason = "";

    const { candidates, missing } = selectVersions(files, config);
    for (const version of missing) {
      entry.statuses.set(version, {
        state: "UNAVAILABLE",
        reason: "version folder not found in the model repository",
      });
    }
    if (candidates.length === 0 && missing.length === 0) {
      entry.reason = `no version folder with a ${"model.onnx"} (expected ${entry.name}/<version>/model.onnx)`;
    }

    const current = new Map(entry.serving.map((served) => [served.version, served]));
    const loads: Promise<{ files: VersionFiles; served?: ServedVersion; error?: Error }>[] = [];
    const kept: ServedVersion[] = [];
    for (const candidate of candidates) {
      const existing = current.get(candidate.version);
      const fingerprint = `${candidate.fingerprint}|${files.configFingerprint}`;
      if (
        existing !== undefined &&
        !configChanged &&
        entry.loadedFrom.get(existing) === candidate.fingerprint
      ) {
        kept.push(existing);
        continue;
      }
      if (!force && entry.failedWith.get(candidate.version) === fingerprint) continue;
      // A version that is serving stays READY while its replacement loads.
      if (existing === undefined)
        entry.statuses.set(candidate.version, { state: "LOADING", reason: "" });
      const started = performance.now();
      loads.push(
        ServedVersion.load(
          runtime,
          entry.name,
          candidate.version,
          candidate.modelPath,
          config,
          this.options.observer,
        ).then(
          (served) => {
            this.options.observer.versionLoaded({
              model: entry.name,
              version: candidate.version,
              durationMs: performance.now() - started,
              failure: undefined,
            });
            return { files: candidate, served };
          },
          (error: unknown) => {
            const failure = asError(error);
            this.options.observer.versionLoaded({
              model: entry.name,
              version: candidate.version,
              durationMs: performance.now() - started,
              failure: failure.message,
            });
            return { files: candidate, error: failure };
          },
        ),
      );
    }
    const results = await Promise.all(loads);

    // The new served set: what loaded, what was kept, and where a candidate failed, what served before.
    const next = new Map<number, ServedVersion>(kept.map((served) => [served.version, served]));
    const failures: string[] = [];
    for (const result of results) {
      const version = result.files.version;
      if (result.served !== undefined) {
        next.set(version, result.served);
        entry.loadedFrom.set(result.served, result.files.fingerprint);
        entry.failedWith.delete(version);
        logger.info({ model: entry.name, version }, "model version loaded");
        continue;
      }
      const reason = `failed to load: ${result.error!.message}`;
      failures.push(`version ${version} ${reason}`);
      entry.failedWith.set(version, `${result.files.fingerprint}|${files.configFingerprint}`);
      const previous = current.get(version);
      if (previous !== undefined) {
        next.set(version, previous);
        const what = configChanged ? "with the new config" : "from the new file";
        entry.statuses.set(version, {
          state: "READY",
          reason: `reload ${what} ${reason}; the previously loaded version keeps serving`,
        });
      } else {
        entry.statuses.set(version, { state: "UNAVAILABLE", reason });
      }
      logger.error(
        { model: entry.name, version, reason },
        "model version failed to load; it is not served",
      );
    }
    // A candidate that failed before with the same files (poll does not retry it) keeps its old file.
    for (const candidate of candidates) {
      const previous = current.get(candidate.version);
      if (!next.has(candidate.version) && previous !== undefined)
        next.set(candidate.version, previous);
    }
    // Candidates that could not be served leave room for the versions they were to replace, newest first.
    const shortfall = candidates.filter((candidate) => !next.has(candidate.version)).length;
    const fallback = entry.serving.filter((served) => !next.has(served.version)).reverse();
    for (const served of fallback.slice(0, shortfall)) next.set(served.version, served);

    const retiring = entry.serving.filter((served) => next.get(served.version) !== served);
    entry.serving = [...next.values()].sort((a, b) => a.version - b.version);
    entry.labels = config.labels;
    const loadedNow = new Set(results.flatMap((result) => result.served ?? []));
    for (const served of entry.serving) {
      // A fresh load clears an earlier failure's reason; a kept version keeps this round's reason.
      const statusNow = entry.statuses.get(served.version);
      if (loadedNow.has(served) || statusNow?.state !== "READY") {
        entry.statuses.set(served.version, { state: "READY", reason: "" });
      }
    }
    await this.retire(
      entry,
      retiring,
      "unloaded: replaced or no longer selected by the version policy",
    );

    if (entry.serving.length === 0) {
      const reasons = [...entry.statuses.entries()].map(([v, s]) => `version ${v}: ${s.reason}`);
      const detail = entry.reason || reasons.join("; ") || "no version could be loaded";
      throw new ModelError("load_failed", `model "${entry.name}" has no ready version: ${detail}`);
    }
    if (failures.length > 0) {
      // As Triton does, a load that could not apply everything fails, even though older versions serve.
      const serving = entry.serving.map((served) => served.version).join(", ");
      throw new ModelError(
        "load_failed",
        `model "${entry.name}": ${failures.join("; ")}; still serving version ${serving}`,
      );
    }
  }

  private async retire(
    entry: ModelEntry,
    versions: readonly ServedVersion[],
    reason: string,
  ): Promise<void> {
    await Promise.all(
      versions.map(async (served) => {
        const stillServing = entry.serving.some((s) => s.version === served.version);
        if (!stillServing) entry.statuses.set(served.version, { state: "UNLOADING", reason: "" });
        await served.retire();
        entry.loadedFrom.delete(served);
        if (!stillServing) entry.statuses.set(served.version, { state: "UNAVAILABLE", reason });
        this.options.observer.versionUnloaded(entry.name, served.version);
        this.options.logger.info(
          { model: entry.name, version: served.version },
          "model version unloaded",
        );
      }),
    );
  }

  private async retireAll(entry: ModelEntry, reason: string): Promise<void> {
    const retiring = entry.serving;
    entry.serving = [];
    await this.retire(entry, retiring, reason);
  }

  /** Unloads every version of a model; queued and running requests finish first. */
  unload(name: string): Promise<void> {
    const entry = this.models.get(name);
    const notLoaded = () => new ModelError("not_found", `model "${name}" is not loaded`);
    if (entry === undefined) return Promise.reject(notLoaded());
    // Checked in turn, after loads and unloads queued before this one.
    return this.serialize(entry, async () => {
      if (entry.serving.length === 0) throw notLoaded();
      await this.retireAll(entry, "unloaded");
    });
  }

  /**
   * The version a request runs on: `version` is "" (the newest ready version), a version number, or
   * a label from the model's config. Synchronous, so resolving and queueing happen in one tick.
   */
  resolve(name: string, version: string): ServedVersion {
    const entry = this.models.get(name);
    const serving = entry?.serving ?? [];
    if (serving.length === 0) {
      const ready = [...this.models.values()]
        .filter((m) => m.serving.length > 0)
        .map((m) => `"${m.name}"`);
      const why = entry?.reason ? `: ${entry.reason}` : "";
      throw new ModelError(
        "not_found",
        `model "${name}" is not ready${why} (ready models: ${ready.length > 0 ? ready.join(", ") : "none"})`,
      );
    }
    if (version === "") return serving[serving.length - 1]!;
    let number: number | undefined;
    if (/^[0-9]+$/.test(version)) number = Number(version);
    else {
      number = entry!.labels.get(version);
      if (number === undefined) {
        const labels = [...entry!.labels.keys()].map((l) => `"${l}"`).join(", ") || "none";
        throw new ModelError(
          "not_found",
          `model "${name}": expected a version number or a label (labels: ${labels}), got "${version}"`,
        );
      }
    }
    const served = serving.find((s) => s.version === number);
    if (served === undefined) {
      const ready = serving.map((s) => s.version).join(", ");
      const label = /^[0-9]+$/.test(version) ? "" : ` (label "${version}")`;
      throw new ModelError(
        "not_found",
        `model "${name}" has no ready version ${number}${label}; ready versions: ${ready}`,
      );
    }
    return served;
  }

  /** True when `resolve` would succeed. */
  isReady(name: string, version: string): boolean {
    try {
      this.resolve(name, version);
      return true;
    } catch {
      return false;
    }
  }

  /** Every model served now, with its versions. */
  servedModels(): { name: string; versions: readonly ServedVersion[] }[] {
    return [...this.models.values()]
      .filter((entry) => entry.serving.length > 0)
      .map((entry) => ({ name: entry.name, versions: entry.serving }));
  }

  /** Models of the repository and their versions' states and reasons (RepositoryIndex). */
  async index(readyOnly: boolean): Promise<IndexEntry[]> {
    const names = new Set(await this.options.repository.listModels().catch(() => []));
    for (const name of this.models.keys()) names.add(name);
    const entries: IndexEntry[] = [];
    for (const name of [...names].sort()) {
      const entry = this.models.get(name);
      if (entry === undefined || entry.statuses.size === 0) {
        if (!readyOnly)
          entries.push({
            name,
            version: "",
            state: entry?.reason ? "UNAVAILABLE" : "",
            reason: entry?.reason ?? "",
          });
        continue;
      }
      for (const [version, versionStatus] of [...entry.statuses.entries()].sort(
        (a, b) => a[0] - b[0],
      )) {
        if (readyOnly && versionStatus.state !== "READY") continue;
        // entry.reason on a serving model is a config that could not be applied: say so.
        const reason = versionStatus.reason || entry.reason;
        entries.push({ name, version: String(version), state: versionStatus.state, reason });
      }
    }
    return entries;
  }

  /** Stops loading, drains every queue and releases every model. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.models.values()].map((entry) =>
        this.serialize(entry, () => this.retireAll(entry, "server shut down")),
      ),
    );
  }
}
