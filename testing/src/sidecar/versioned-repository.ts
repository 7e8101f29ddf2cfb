/**
 * Model repositories with several versions of a model, built in a temp folder, and the edits the
 * hot-swap tests make to them while a sidecar watches. Every edit is atomic (written beside the
 * target, then renamed into place), so a repository poll never sees a half-written file: a failure
 * a test observes is the one it meant to cause.
 */
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURE_MODELS } from "../paths.js";
import type { TestRepository } from "./test-sidecar.js";

/** identity-fp32: INPUT0 FP32 [-1, 4] → OUTPUT0, the same values. */
export const IDENTITY_FP32 = join(FIXTURE_MODELS, "identity-fp32", "1", "model.onnx");
/** slow-fp32: INPUT0 FP32 [-1, 64] → OUTPUT0 [-1, 64], 24 matmul+relu layers: a slow warm-up. */
export const SLOW_FP32 = join(FIXTURE_MODELS, "slow-fp32", "1", "model.onnx");

/** A model file: a path to copy, or the bytes themselves. */
export type ModelSource = string | Uint8Array;

export interface ModelSpec {
  readonly source: ModelSource;
  readonly versions: readonly number[];
  /** The text of `<model>/config.yaml`; none when undefined. */
  readonly config?: string;
}

/** Hidden names: the repository skips them, so staged files are never seen as models. */
function stagingPath(root: string): string {
  return join(root, `.staging-${randomUUID()}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function writeSource(path: string, source: ModelSource): Promise<void> {
  if (typeof source === "string") await copyFile(source, path);
  else await writeFile(path, source);
}

/**
 * Builds `<dir>/<model>/<version>/model.onnx` (and config.yaml) for every model, in `dir` when given
 * (a test that needs files beside the repository makes it inside a folder of its own), else in a
 * fresh temp folder.
 */
export async function makeVersionedRepository(
  models: Record<string, ModelSpec>,
  dir?: string,
): Promise<TestRepository> {
  if (dir === undefined) dir = await mkdtemp(join(tmpdir(), "sluice-versions-"));
  else await mkdir(dir, { recursive: true });
  for (const [name, spec] of Object.entries(models)) {
    await mkdir(join(dir, name), { recursive: true });
    for (const version of spec.versions) await putVersion(dir, name, version, spec.source);
    if (spec.config !== undefined) await writeModelConfig(dir, name, spec.config);
  }
  const root = dir;
  return { dir: root, remove: () => rm(root, { recursive: true, force: true }) };
}

/**
 * Adds `<model>/<version>/model.onnx`, or atomically replaces that file when the version exists
 * (a new inode, as a deploy tool's rename would give).
 */
export async function putVersion(
  root: string,
  model: string,
  version: number,
  source: ModelSource,
): Promise<void> {
  const target = join(root, model, String(version));
  const staging = stagingPath(root);
  if (await exists(target)) {
    await writeSource(staging, source);
    await rename(staging, join(target, "model.onnx"));
    return;
  }
  await mkdir(staging);
  await writeSource(join(staging, "model.onnx"), source);
  await mkdir(join(root, model), { recursive: true });
  await rename(staging, target);
}

/** Writes (or replaces) `<model>/config.yaml`. */
export async function writeModelConfig(root: string, model: string, text: string): Promise<void> {
  const staging = stagingPath(root);
  await writeFile(staging, text);
  await mkdir(join(root, model), { recursive: true });
  await rename(staging, join(root, model, "config.yaml"));
}

/** Removes a model's folder in one step (renamed away first, then deleted). */
export async function removeModel(root: string, model: string): Promise<void> {
  const staging = stagingPath(root);
  await rename(join(root, model), staging);
  await rm(staging, { recursive: true, force: true });
}
