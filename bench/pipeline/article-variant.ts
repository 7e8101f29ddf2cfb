/**
 * What the article variant's Python process gets besides the VariantSettings every consumer child
 * gets: the model file the Sluice variant's sidecar serves (fraud.yaml's model and version label,
 * resolved through the model's config.yaml), and the users' home countries as a JSON file, the
 * article's "lookups to static reference data" held in a dict.
 *
 * The homes are those `sluice produce` writes to Redis for the Sluice and naive variants
 * (`user:<id>` → `home_country`): the generator draws them from its seed alone, so the benchmark
 * computes them for every phase the consumer will see before starting it.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { SyntheticFraud } from "@sluice/demo";
import { REPO_ROOT } from "../lib/child.js";
import { FRAUD_PIPELINE } from "./fraud-config.js";

const MODELS = join(REPO_ROOT, "examples/models");

export interface ArticleModel {
  /** fraud.yaml's `model.name` and `model.version` (a label such as `stable`, or a number). */
  readonly name: string;
  readonly requested: string;
  /** `examples/models/<name>/<version>/model.onnx`. */
  readonly path: string;
  /** The version number the sidecar would answer with (a prediction's `model_version`). */
  readonly version: string;
}

/** The model file and version fraud.yaml's `model` points the Sluice variant's sidecar at. */
export async function articleModel(): Promise<ArticleModel> {
  const pipeline = parseYaml(await readFile(FRAUD_PIPELINE, "utf8")) as {
    pipeline: { model: { name: string; version?: string | number } };
  };
  const { name, version = "latest" } = pipeline.pipeline.model;
  const configPath = join(MODELS, name, "config.yaml");
  const config = (parseYaml(await readFile(configPath, "utf8")) ?? {}) as {
    labels?: Record<string, number>;
  };
  const number = /^\d+$/.test(String(version)) ? Number(version) : config.labels?.[version];
  if (number === undefined) {
    throw new Error(
      `${FRAUD_PIPELINE}: model.version: expected a number or a label of ${configPath} (${Object.keys(config.labels ?? {}).join(", ") || "none"}), got "${version}"`,
    );
  }
  return {
    name,
    requested: String(version),
    path: join(MODELS, name, String(number), "model.onnx"),
    version: String(number),
  };
}

/** The home country of every user of the given runs, as `sluice produce` writes them to Redis. */
export function homesOf(runIds: readonly string[], users: number): Record<string, string> {
  const homes: Record<string, string> = {};
  for (const runId of runIds) {
    for (const [user, home] of new SyntheticFraud({ runId, users }).homes()) homes[user] = home;
  }
  return homes;
}

/** Writes `homes` as `<dir>/homes.json` for the Python process; returns the path. */
export async function writeHomes(dir: string, homes: Record<string, string>): Promise<string> {
  const path = join(dir, "homes.json");
  await writeFile(path, JSON.stringify(homes));
  return path;
}
