/**
 * A model's `config.yaml` (or `config.json`): batching, version policy, labels, warm-up, instances
 * and ONNX Runtime threads. Keys are Triton's where Triton has one, so its users feel at home.
 * Inputs and outputs come from the ONNX model itself; the config may only narrow them.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parse as parseYaml } from "yaml";
import { errorMessage, formatIssues, schemaErrorMap } from "@sluice/kit";
import { z } from "zod";
import { ModelError } from "../models/model-error.js";

/** Rows in one execution when the config names none: large enough to amortise a call, small enough for CPU caches. */
export const DEFAULT_MAX_BATCH_SIZE = 64;
/** No artificial wait: under load batches still form while the instance is busy, and a lone request is not delayed. */
export const DEFAULT_MAX_QUEUE_DELAY_MICROS = 0;
/**
 * Requests waiting per version before RESOURCE_EXHAUSTED: bounds memory and tail latency under
 * overload. (The batcher alone is unbounded, DEFAULT_BATCHER_MAX_QUEUE_SIZE = 0, as Triton's is;
 * every served version passes this one.)
 */
export const DEFAULT_MAX_QUEUE_SIZE = 4096;
/** One execution at a time: ORT already spreads one batch over the intra-op threads. */
export const DEFAULT_INSTANCE_COUNT = 1;

const versionNumber = z.number().int().positive();

const versionPolicySchema = z.union([
  z.strictObject({
    latest: z.strictObject({ num_versions: z.number().int().positive().default(1) }),
  }),
  z.strictObject({ all: z.strictObject({}).default({}) }),
  z.strictObject({ specific: z.strictObject({ versions: z.array(versionNumber).min(1) }) }),
]);

const tensorNarrowingSchema = z.strictObject({
  name: z.string().min(1),
  /** Narrows a dynamic dimension (-1) of the model to a fixed size; the batch dimension is not listed. */
  dims: z.array(z.number().int().min(-1)).optional(),
});

const fileSchema = z.strictObject({
  /** Must match the folder name when given (Triton requires the same). */
  name: z.string().optional(),
  platform: z.literal("onnxruntime_onnx").optional(),
  backend: z.literal("onnxruntime").optional(),
  max_batch_size: z.number().int().min(0).optional(),
  dynamic_batching: z
    .union([
      z.literal(false),
      z.strictObject({
        max_queue_delay_microseconds: z.number().int().min(0).optional(),
        preferred_batch_size: z.array(z.number().int().positive()).optional(),
        preferred_batch_sizes: z.array(z.number().int().positive()).optional(),
        max_queue_size: z.number().int().min(0).optional(),
        priority_levels: z.number().int().min(0).optional(),
        default_priority_level: z.number().int().min(0).optional(),
        default_timeout_microseconds: z.number().int().min(0).optional(),
      }),
    ])
    .optional(),
  version_policy: versionPolicySchema.optional(),
  labels: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/), versionNumber).optional(),
  instance_count: z.number().int().positive().optional(),
  warmup: z
    .union([
      z.literal(false),
      z.strictObject({ batch_sizes: z.array(z.number().int().positive()).min(1).optional() }),
    ])
    .optional(),
  onnxruntime: z
    .strictObject({
      intra_op_threads: z.number().int().min(0).optional(),
      inter_op_threads: z.number().int().min(0).optional(),
      graph_optimization_level: z.enum(["disabled", "basic", "extended", "all"]).optional(),
      allow_spinning: z.boolean().optional(),
    })
    .optional(),
  inputs: z.array(tensorNarrowingSchema).optional(),
  outputs: z.array(tensorNarrowingSchema.pick({ name: true })).optional(),
});

export type VersionPolicy =
  | { readonly kind: "latest"; readonly numVersions: number }
  | { readonly kind: "all" }
  | { readonly kind: "specific"; readonly versions: readonly number[] };

/** A model's configuration with every default filled. */
export interface ModelConfig {
  /** Undefined when the config does not set it: then it follows the model (batch dim → default, none → 0). */
  readonly maxBatchSize: number | undefined;
  readonly batching: {
    readonly enabled: boolean;
    readonly maxQueueDelayMicros: number;
    readonly preferredBatchSizes: readonly number[];
    readonly maxQueueSize: number;
    readonly priorityLevels: number;
    readonly defaultPriorityLevel: number;
    /** Per-request timeout when the request sets none; 0 = none. */
    readonly defaultTimeoutMicros: number;
  };
  readonly versionPolicy: VersionPolicy;
  readonly labels: ReadonlyMap<string, number>;
  readonly instanceCount: number;
  /** Batch sizes to warm up; undefined = every size the batcher can form; empty = no warm-up. */
  readonly warmupBatchSizes: readonly number[] | undefined;
  readonly ort: {
    readonly intraOpThreads: number;
    readonly interOpThreads: number;
    readonly graphOptimizationLevel: "disabled" | "basic" | "extended" | "all";
    readonly allowSpinning: boolean;
  };
  readonly inputs: ReadonlyMap<string, readonly number[] | undefined> | undefined;
  readonly outputs: ReadonlySet<string> | undefined;
}

export const CONFIG_FILE_NAMES = ["config.yaml", "config.yml", "config.json"] as const;

const invalidConfig = (message: string, cause?: unknown) =>
  new ModelError("invalid_config", message, { cause });

/**
 * Validates a parsed config document and fills defaults. `source` names it in error messages;
 * throws ModelError("invalid_config") naming the file and the key.
 */
export function resolveModelConfig(model: string, document: unknown, source: string): ModelConfig {
  const parsed = fileSchema.safeParse(document ?? {}, { error: schemaErrorMap });
  if (!parsed.success) {
    throw invalidConfig(
      formatIssues(parsed.error)
        .map((issue) => `${source}: ${issue}`)
        .join("; "),
    );
  }
  const file = parsed.data;
  if (file.name !== undefined && file.name !== model) {
    throw invalidConfig(
      `${source}: name: expected "${model}" (the folder name), got "${file.name}"`,
    );
  }
  const batching = file.dynamic_batching === false ? undefined : file.dynamic_batching;
  const policy = file.version_policy;
  const versionPolicy: VersionPolicy =
    policy === undefined
      ? { kind: "latest", numVersions: 1 }
      : "latest" in policy
        ? { kind: "latest", numVersions: policy.latest.num_versions }
        : "all" in policy
          ? { kind: "all" }
          : {
              kind: "specific",
              versions: [...new Set(policy.specific.versions)].sort((a, b) => a - b),
            };
  const priorityLevels = batching?.priority_levels ?? 0;
  const defaultPriorityLevel =
    batching?.default_priority_level ?? (priorityLevels > 0 ? priorityLevels : 0);
  if (priorityLevels > 0 && (defaultPriorityLevel < 1 || defaultPriorityLevel > priorityLevels)) {
    throw invalidConfig(
      `${source}: dynamic_batching.default_priority_level: expected 1..${priorityLevels}, got ${defaultPriorityLevel}`,
    );
  }
  return {
    maxBatchSize: file.max_batch_size,
    batching: {
      enabled: file.dynamic_batching !== false,
      maxQueueDelayMicros: batching?.max_queue_delay_microseconds ?? DEFAULT_MAX_QUEUE_DELAY_MICROS,
      preferredBatchSizes: [
        ...new Set(batching?.preferred_batch_sizes ?? batching?.preferred_batch_size ?? []),
      ].sort((a, b) => a - b),
      maxQueueSize: batching?.max_queue_size ?? DEFAULT_MAX_QUEUE_SIZE,
      priorityLevels,
      defaultPriorityLevel,
      defaultTimeoutMicros: batching?.default_timeout_microseconds ?? 0,
    },
    versionPolicy,
    labels: new Map(Object.entries(file.labels ?? {})),
    instanceCount: file.instance_count ?? DEFAULT_INSTANCE_COUNT,
    warmupBatchSizes:
      file.warmup === false
        ? []
        : file.warmup?.batch_sizes
          ? [...new Set(file.warmup.batch_sizes)].sort((a, b) => a - b)
          : undefined,
    ort: {
      intraOpThreads: file.onnxruntime?.intra_op_threads ?? 0,
      interOpThreads: file.onnxruntime?.inter_op_threads ?? 0,
      graphOptimizationLevel: file.onnxruntime?.graph_optimization_level ?? "all",
      allowSpinning: file.onnxruntime?.allow_spinning ?? false,
    },
    inputs: file.inputs ? new Map(file.inputs.map((input) => [input.name, input.dims])) : undefined,
    outputs: file.outputs ? new Set(file.outputs.map((output) => output.name)) : undefined,
  };
}

/**
 * Reads a model's config file; a model without one (`path` undefined) gets every default. Throws
 * ModelError("invalid_config") for a file that does not parse or validate, and the file system's
 * error when it cannot be read.
 */
export async function readModelConfig(
  model: string,
  path: string | undefined,
): Promise<ModelConfig> {
  if (path === undefined) return resolveModelConfig(model, {}, `${model}/config.yaml`);
  const fileName = basename(path);
  const source = `${model}/${fileName}`;
  const text = await readFile(path, "utf8");
  let document: unknown;
  try {
    document = fileName.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw invalidConfig(
      `${source}: not valid ${fileName.endsWith(".json") ? "JSON" : "YAML"}: ${errorMessage(error)}`,
      error,
    );
  }
  return resolveModelConfig(model, document, source);
}
