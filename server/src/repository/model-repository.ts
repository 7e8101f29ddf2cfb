/**
 * The model repository on disk: `<root>/<model>/<version>/model.onnx` plus an optional
 * `<root>/<model>/config.yaml`. It only reads the folder; loading is the model manager's job.
 *
 * Names come from clients (RepositoryModelLoad, ModelInfer), so every path is checked twice: the
 * name must be a plain folder name, and the resolved real path (after symlinks) must stay inside
 * the repository. Nothing outside it can be read or loaded.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import { ModelError } from "../models/model-error.js";
import { CONFIG_FILE_NAMES } from "./model-config.js";

/** Letters, digits, `_`, `-`, `.`; starts with a letter or digit; so never `..`, a slash or a hidden file. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const VERSION_DIR = /^[1-9][0-9]{0,8}$/;
export const MODEL_FILE_NAME = "model.onnx";

/** Throws ModelError("invalid_name") unless `name` is a plain model folder name. */
export function assertModelName(name: string): void {
  if (!MODEL_NAME.test(name) || name.includes("..")) {
    throw new ModelError(
      "invalid_name",
      `model name: expected 1-128 letters, digits, "_", "-" or "." starting with a letter or digit, got ${JSON.stringify(name)}`,
    );
  }
}

export interface VersionFiles {
  readonly version: number;
  readonly modelPath: string;
  /** Changes when the file is replaced or rewritten; poll mode reloads the version when it does. */
  readonly fingerprint: string;
}

export interface ModelFiles {
  readonly name: string;
  readonly dir: string;
  /** Ascending by version. */
  readonly versions: readonly VersionFiles[];
  /** The config file, when there is one inside the repository. */
  readonly configPath: string | undefined;
  /** Fingerprint of the config file ("" when there is none). */
  readonly configFingerprint: string;
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export class ModelRepository {
  #rootRealPath: string | undefined;

  constructor(readonly root: string) {}

  async #realRoot(): Promise<string> {
    this.#rootRealPath ??= await realpath(this.root);
    return this.#rootRealPath;
  }

  /** True when `path` resolves (through symlinks) to a place inside the repository. */
  async #isInside(path: string): Promise<boolean> {
    const root = await this.#realRoot();
    const real = await realpath(path);
    return real === root || real.startsWith(root + sep);
  }

  /** Names of the model folders in the repository, sorted. Entries that are not valid names are skipped. */
  async listModels(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const names: string[] = [];
    for (const entry of entries) {
      if (!MODEL_NAME.test(entry.name) || entry.name.includes("..")) continue;
      const dir = join(this.root, entry.name);
      const info = await statOrUndefined(dir);
      if (info?.isDirectory() && (await this.#isInside(dir))) names.push(entry.name);
    }
    return names.sort();
  }

  /** The files of one model, or undefined when the repository has no such model. */
  async scanModel(name: string): Promise<ModelFiles | undefined> {
    assertModelName(name);
    const dir = join(this.root, name);
    const info = await statOrUndefined(dir);
    if (!info?.isDirectory() || !(await this.#isInside(dir))) return undefined;

    const versions: VersionFiles[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!VERSION_DIR.test(entry.name)) continue;
      const modelPath = join(dir, entry.name, MODEL_FILE_NAME);
      const file = await statOrUndefined(modelPath);
      if (!file?.isFile() || !(await this.#isInside(modelPath))) continue;
      versions.push({
        version: Number(entry.name),
        modelPath,
        fingerprint: `${file.size}:${file.mtimeMs}:${file.ino}`,
      });
    }
    versions.sort((a, b) => a.version - b.version);

    let configPath: string | undefined;
    let configFingerprint = "";
    for (const fileName of CONFIG_FILE_NAMES) {
      const path = join(dir, fileName);
      const config = await statOrUndefined(path);
      if (config?.isFile() && (await this.#isInside(path))) {
        configPath = path;
        configFingerprint = `${fileName}:${config.size}:${config.mtimeMs}:${config.ino}`;
        break;
      }
    }
    return { name, dir, versions, configPath, configFingerprint };
  }
}
