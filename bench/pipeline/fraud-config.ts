/**
 * The worked example's pipeline (examples/pipelines/fraud.yaml) pointed at the benchmark's topics,
 * group, broker, sidecar and Redis key prefix, on the Kafka client asked for. Everything else (features, model, micro-batch size
 * and linger, at-least-once delivery, retries, review threshold) is the file's.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parsePipelineConfig, type PipelineConfig } from "@sluice/consumer";
import { REPO_ROOT } from "../lib/child.js";
import type { VariantSettings } from "./variant-settings.js";

const PIPELINES = join(REPO_ROOT, "examples/pipelines");
export const FRAUD_PIPELINE = join(PIPELINES, "fraud.yaml");

export async function fraudConfig(settings: VariantSettings): Promise<PipelineConfig> {
  const document = parseYaml(await readFile(FRAUD_PIPELINE, "utf8")) as {
    pipeline: Record<string, unknown>;
  };
  const pipeline = document.pipeline;
  pipeline["kafka"] = {
    ...(pipeline["kafka"] as Record<string, unknown>),
    client: settings.client,
    brokers: [...settings.brokers],
    client_id: settings.groupId,
    group_id: settings.groupId,
  };
  pipeline["topics"] = {
    input: settings.topics.input,
    output: settings.topics.output,
    dead_letter: settings.topics.deadLetter,
    review: settings.topics.review,
  };
  pipeline["model"] = {
    ...(pipeline["model"] as Record<string, unknown>),
    sidecar: settings.sidecar,
  };
  pipeline["redis"] = { url: settings.redisUrl, key_prefix: settings.keyPrefix };
  if (settings.lingerMs !== undefined) {
    pipeline["batch"] = {
      ...(pipeline["batch"] as Record<string, unknown>),
      linger_ms: settings.lingerMs,
    };
  }
  return parsePipelineConfig(document, {}, PIPELINES);
}
