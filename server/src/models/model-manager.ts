/**
 * Which versions of which models are served, and the hot-swap between them.
 *
 * A (re)load scans the model's folder, reads its config, plans which versions to keep and which to
 * load (served-set-plan.ts), loads and warms up the new ones, and only then swaps the planned
 * served set in one assignment. Requests resolve their version synchronously and queue on it at
 * once, so a request never sees a half-swapped model; versions that leave the set are drained
 * (their queued and running requests finish on them) and then released. A version that fails to
 * load or warm up never replaces a serving one: the previous version keeps serving and the failure
 * is reported with its reason.
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
import {
  RETIRED_REASON,
  planLoads,
  planServedSet,
  type LoadResult,
  type ServedSet,
  type VersionState,
  type VersionStatus,
} from "./served-set-plan.js";
import { ServedVersion } from "./served-version.js";

export type { VersionState } from "./served-set-plan.js";

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

class ModelEntry implements ServedSet<ServedVersion> {
  /** Ascending by version; replaced, never mutated, so a reader always sees a whole set. */
  serving: readonly ServedVersion[] = [];
  labels: ReadonlyMap<string, number> = new Map();
  statuses = new Map<number, VersionStatus>();
  loadedFrom = new Map<ServedVersion, string>();
  failedWith = new Map<number, string>();
  configFingerprint: string | undefined;
  /** Why the model as a whole is not (fully) served: config errors, a missing folder. */
  reason = "";
  /** Loads and unloads of one model run one after another. */
  queue: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string) {}
}

export class ModelManager {
  readonly #options: ModelManagerOptions;
  readonly #models = new Map<string, ModelEntry>();
  #closed = false;

  constructor(options: ModelManagerOptions) {
    this.#options = options;
  }

  #entry(name: string): ModelEntry {
    let entry = this.#models.get(name);
    if (entry === undefined) {
      entry = new ModelEntry(name);
      this.#models.set(name, entry);
    }
    return entry;
  }

  #serialize<T>(entry: ModelEntry, work: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(work, work);
    entry.queue = run.catch(() => undefined);
    return run;
  }

  /** Loads every model of the repository (modes none and poll). Failures are reported, not thrown. */
  async loadAll(): Promise<void> {
    const names = await this.#options.repository.listModels();
    await Promise.all(
      names.map((name) => this.load(name, { force: false }).catch(() => undefined)),
    );
  }

  /**
   * Rescans the repository (poll mode): loads new models, reloads changed ones, unloads removed
   * ones. Versions that already failed with the same files are not retried until they change.
   */
  async poll(): Promise<void> {
    const names = new Set(await this.#options.repository.listModels());
    for (const name of this.#models.keys()) names.add(name);
    for (const name of names) {
      if (this.#closed) return;
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
    const entry = this.#entry(name);
    return this.#serialize(entry, () => this.#reload(entry, force));
  }

  /** Scan, config, plan, load, apply the plan, retire: one model's reload, start to end. */
  async #reload(entry: ModelEntry, force: boolean): Promise<void> {
    if (this.#closed) throw new ModelError("unavailable", "the server is shutting down");
    const files = await this.#options.repository.scanModel(entry.name);
    if (files === undefined) return this.#removed(entry);
    const config = await this.#readConfig(entry, files);
    const input = {
      model: entry.name,
      files,
      policy: config.versionPolicy,
      configChanged: entry.configFingerprint !== files.configFingerprint,
      force,
    };
    entry.configFingerprint = files.configFingerprint;

    const loads = planLoads(entry, input);
    entry.statuses = new Map(loads.statuses);
    entry.reason = loads.reason;
    const results = await Promise.all(
      loads.toLoad.map((version) => this.#loadVersion(entry.name, version, config)),
    );

    const plan = planServedSet(entry, loads, results, input);
    for (const { version, failure } of plan.outcomes) {
      if (failure === undefined) {
        this.#options.logger.info({ model: entry.name, version }, "model version loaded");
      } else {
        this.#options.logger.error(
          { model: entry.name, version, reason: failure },
          "model version failed to load; it is not served",
        );
      }
    }
    entry.serving = plan.next.serving;
    entry.statuses = new Map(plan.next.statuses);
    entry.loadedFrom = new Map(plan.next.loadedFrom);
    entry.failedWith = new Map(plan.next.failedWith);
    entry.labels = config.labels;
    await this.#retire(entry, plan.retiring, RETIRED_REASON);
    if (plan.error !== undefined) throw plan.error;
  }

  /** The model's folder is gone: unload what it served and say it is not found. */
  async #removed(entry: ModelEntry): Promise<never> {
    const hadAny = entry.serving.length > 0 || entry.statuses.size > 0;
    await this.#retireAll(entry, "removed from the model repository");
    entry.reason = "not found in the model repository";
    if (!hadAny) this.#models.delete(entry.name);
    throw new ModelError("not_found", `model "${entry.name}" is not in the model repository`);
  }

  /** The model's config; a bad one is recorded as the model's reason and thrown, serving versions kept. */
  async #readConfig(entry: ModelEntry, files: ModelFiles): Promise<ModelConfig> {
    try {
      const config = await readModelConfig(entry.name, files.configPath);
      entry.reason = "";
      return config;
    } catch (error) {
      const reason =
        error instanceof ModelError ? error.message : `reading the config: ${errorMessage(error)}`;
      entry.reason =
        entry.serving.length > 0
          ? `${reason}; the served versions keep their previous config`
          : reason;
      entry.configFingerprint = files.configFingerprint;
      this.#options.logger.error(
        { model: entry.name, reason },
        "model config is invalid; serving versions are kept",
      );
      throw new ModelError("invalid_config", `model "${entry.name}": ${reason}`, { cause: error });
    }
  }

  /** Loads and warms up one version; never rejects: a failure is a result too. */
  async #loadVersion(
    model: string,
    files: VersionFiles,
    config: ModelConfig,
  ): Promise<LoadResult<ServedVersion>> {
    const { runtime, observer } = this.#options;
    const started = performance.now();
    try {
      const served = await ServedVersion.load(
        runtime,
        model,
        files.version,
        files.modelPath,
        config,
        observer,
      );
      observer.versionLoaded({
        model,
        version: files.version,
        durationMs: performance.now() - started,
        failure: undefined,
      });
      return { files, served };
    } catch (thrown) {
      const error = asError(thrown);
      observer.versionLoaded({
        model,
        version: files.version,
        durationMs: performance.now() - started,
        failure: error.message,
      });
      return { files, error };
    }
  }

  async #retire(
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
        this.#options.observer.versionUnloaded(entry.name, served.version);
        this.#options.logger.info(
          { model: entry.name, version: served.version },
          "model version unloaded",
        );
      }),
    );
  }

  async #retireAll(entry: ModelEntry, reason: string): Promise<void> {
    const retiring = entry.serving;
    entry.serving = [];
    await this.#retire(entry, retiring, reason);
  }

  /** Unloads every version of a model; queued and running requests finish first. */
  unload(name: string): Promise<void> {
    const entry = this.#models.get(name);
    const notLoaded = () => new ModelError("not_found", `model "${name}" is not loaded`);
    if (entry === undefined) return Promise.reject(notLoaded());
    // Checked in turn, after loads and unloads queued before this one.
    return this.#serialize(entry, async () => {
      if (entry.serving.length === 0) throw notLoaded();
      await this.#retireAll(entry, "unloaded");
    });
  }

  /**
   * The version a request runs on: `version` is "" (the newest ready version), a version number, or
   * a label from the model's config. Synchronous, so resolving and queueing happen in one tick.
   */
  resolve(name: string, version: string): ServedVersion {
    const entry = this.#models.get(name);
    const serving = entry?.serving ?? [];
    if (serving.length === 0) {
      const ready = [...this.#models.values()]
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
    return [...this.#models.values()]
      .filter((entry) => entry.serving.length > 0)
      .map((entry) => ({ name: entry.name, versions: entry.serving }));
  }

  /** Models of the repository and their versions' states and reasons (RepositoryIndex). */
  async index(readyOnly: boolean): Promise<IndexEntry[]> {
    const names = new Set(await this.#options.repository.listModels().catch(() => []));
    for (const name of this.#models.keys()) names.add(name);
    const entries: IndexEntry[] = [];
    for (const name of [...names].sort()) {
      const entry = this.#models.get(name);
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
    this.#closed = true;
    await Promise.all(
      [...this.#models.values()].map((entry) =>
        this.#serialize(entry, () => this.#retireAll(entry, "server shut down")),
      ),
    );
  }
}
