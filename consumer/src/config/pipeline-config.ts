/**
 * One YAML file per pipeline: where events come from and go to, how features are computed, which
 * model scores them, and how micro-batches, delivery and retries behave. Parsed with zod; every
 * problem is reported with its path from the file's root and what was expected:
 * `pipeline.batch.linger_ms: expected a non-negative integer, got "soon"`.
 *
 * ```yaml
 * pipeline:
 *   name: fraud
 *   topics: { input: transactions, output: predictions, dead_letter: transactions-dlq }
 *   features: { entity_key: user_id, event_time: timestamp, vector: [...] }
 *   model: { sidecar: "127.0.0.1:8001", name: fraud }
 * ```
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { readConfigFile } from "./read-config-file.js";
import { ConsumerError } from "../errors.js";
import { featureSpecSchema, type FeatureSpec } from "../features/feature-spec.js";
import { describeValue, formatIssues, schemaErrorMap } from "@sluice/kit";
import {
  kafkaSaslSchema,
  kafkaSecuritySettings,
  kafkaTlsSchema,
  type KafkaSecuritySettings,
} from "./kafka-security.js";
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_CACHED_BYTES,
  DEFAULT_MAX_CACHED_ENTITIES,
  DEFAULT_RETENTION_SLACK_MS,
} from "../adapters/redis-feature-store.js";
import { durationMs } from "../features/spec-yaml.js";
import { parseRolloutConfig, type RolloutConfig } from "../lifecycle/rollout-config.js";
import { parseMonitoringConfig, type MonitoringConfig } from "../lifecycle/monitoring-config.js";
import { parseRetrainingConfig, type RetrainingConfig } from "../lifecycle/retraining-trigger.js";

/** `redis.max_cached_mb`'s default: the feature store's byte bound, in MiB. */
const DEFAULT_MAX_CACHED_MB = DEFAULT_MAX_CACHED_BYTES / 2 ** 20;

export const DELIVERY_MODES = ["at_least_once", "exactly_once"] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

/**
 * The Kafka client libraries a pipeline can run on (adapters/). @platformatic/kafka is the default:
 * the cheapest per event in docs/benchmarks.md ("Kafka clients"), with static membership,
 * cooperative rebalancing and KIP-447 fencing; kafkajs has none of the three.
 */
export const KAFKA_CLIENTS = ["platformatic", "kafkajs"] as const;
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];
export const DEFAULT_KAFKA_CLIENT: KafkaClientName = "platformatic";

/**
 * How the pipeline's producers compress what they write (predictions, dead letters, reviews): a
 * record batch's records compressed together, as Kafka's `compression.type`. Kafka's default is
 * none; with zstd @platformatic/kafka concatenates and checksums a batch once instead of twice,
 * so producing a record costs less CPU than producing it plain (bench/produce-path.bench.ts,
 * docs/benchmarks.md). Every Kafka client reads gzip; snappy, lz4 and zstd need a codec in
 * kafkajs (Sluice's kafkajs adapter brings zstd's, and writes none, gzip or zstd).
 */
export const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];
/** What kafkajs writes: gzip is built in, zstd comes from node:zlib (adapters/kafkajs-zstd.ts). */
export const KAFKAJS_COMPRESSIONS: readonly Compression[] = ["none", "gzip", "zstd"];

/** Why kafkajs cannot write `compression`, or undefined when it can. */
export function kafkajsCompressionProblem(compression: Compression): string | undefined {
  if (KAFKAJS_COMPRESSIONS.includes(compression)) return undefined;
  const expected = KAFKAJS_COMPRESSIONS.map((c) => `"${c}"`).join(", ");
  return `expected ${expected} with client "kafkajs" (it has no ${compression} codec), got "${compression}"`;
}

/** The local stack's broker (`sluice stack up`): a pipeline file works on a laptop as written. */
export const DEFAULT_BROKERS: readonly string[] = ["127.0.0.1:9092"];
/** The local stack's Redis, for the same reason. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/**
 * How long the group waits for a silent member before its partitions go to the others. With
 * static membership a restarted process takes its partitions back at once whatever this is, so it
 * only decides how long the partitions of a member that does not come back (a lost node, a frozen
 * or crash-looping process) stand still: 15 s is five 3-second heartbeats, enough for seconds-long
 * event-loop or GC pauses and a container restart, and a third of Kafka's 45 s default. The broker
 * refuses less than its group.min.session.timeout.ms (6 s by default).
 */
export const DEFAULT_SESSION_TIMEOUT_MS = 15_000;
/** The example models' `max_batch_size`: one full micro-batch is one sidecar execution. */
export const DEFAULT_MAX_EVENTS = 256;
/**
 * A burst fills a micro-batch in a few milliseconds; waiting longer only delays a lone event.
 * The sidecar's own batcher merges the micro-batches of concurrent partitions.
 */
export const DEFAULT_LINGER_MS = 5;
/** A local sidecar answers a 256-row batch in milliseconds; two seconds catches a hung one, not a slow one. */
export const DEFAULT_DEADLINE_MS = 2_000;
/** Long enough that a restarting sidecar or Redis is not hammered, short enough to resume quickly. */
export const DEFAULT_INITIAL_BACKOFF_MS = 200;
/** A partition waiting out an outage re-tries at least this often, so it resumes soon after. */
export const DEFAULT_MAX_BACKOFF_MS = 5_000;
/** For two classes, a top probability below 0.6 is close to a coin flip: worth a human look. */
export const DEFAULT_REVIEW_CONFIDENCE_BELOW = 0.6;
/** The event field whose value becomes the prediction's `id`, as in the example event schema. */
export const DEFAULT_ID_FIELD = "id";
/** Next to the sidecar's 8002, so one host's Sluice ports sit together; a second consumer on the host needs its own. */
export const DEFAULT_METRICS_PORT = 8003;
/** Loopback, as the sidecar: serving metrics wider is a deliberate `host: 0.0.0.0`. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/** A pipeline file, validated, with every default filled. */
export interface PipelineConfig {
  readonly name: string;
  readonly kafka: {
    /** The client library (adapters/) the pipeline runs on. */
    readonly client: KafkaClientName;
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly groupId: string;
    /** Static membership (KIP-345); none: a new dynamic member at each start. */
    readonly groupInstanceId: string | undefined;
    readonly sessionTimeoutMs: number;
    /** How the producers compress their record batches. */
    readonly compression: Compression;
    /**
     * Whether the at-least-once producer of outputs runs in a worker thread of its own, beside the
     * consumer's thread (@platformatic/kafka only).
     */
    readonly producerThread: boolean;
    /** TLS and SASL, as the file names them (files and variables are read at start). */
    readonly security: KafkaSecuritySettings;
  };
  readonly topics: {
    readonly input: string;
    readonly output: string;
    readonly deadLetter: string;
    /** Low-confidence predictions go here too; none when absent. */
    readonly review: string | undefined;
  };
  readonly decoder: { readonly format: "json"; readonly idField: string };
  readonly features: FeatureSpec;
  readonly model: {
    /** `host:port` of the inference sidecar. */
    readonly sidecar: string;
    readonly name: string;
    /** A version number or a label such as "stable"; the sidecar's default when absent. */
    readonly version: number | string | undefined;
    /** The input tensor; the model's only input when absent. */
    readonly input: string | undefined;
    readonly deadlineMs: number;
  };
  readonly batch: { readonly maxEvents: number; readonly lingerMs: number };
  readonly delivery: DeliveryMode;
  readonly retry: { readonly initialBackoffMs: number; readonly maxBackoffMs: number };
  readonly review: { readonly confidenceBelow: number };
  readonly redis: {
    readonly url: string;
    readonly keyPrefix: string;
    /** Entities whose window state a consumer keeps in memory; beyond it, reloaded on use. */
    readonly maxCachedEntities: number;
    /** Their estimated memory, in bytes; beyond it the least recently used are reloaded on use. */
    readonly maxCachedBytes: number;
    /**
     * How far back in event time, before an entity's oldest event of a micro-batch, its rows are
     * kept beyond the longest window: a replay reaching that far (a crash's last micro-batch, a
     * reprocessing from offsets reset that far) gets exact answers.
     */
    readonly retentionSlackMs: number;
  };
  /** Where `sluice consume` serves Prometheus metrics; port 0 picks a free one, -1 serves none. */
  readonly metrics: { readonly host: string; readonly port: number };
  /** Which model versions score which entities (docs/rollouts.md); none: `model.version` scores all. */
  readonly rollout: RolloutConfig | undefined;
  /** Drift, late labels and online evaluation (docs/monitoring.md); none: not monitored. */
  readonly monitoring: MonitoringConfig | undefined;
  /** When to ask for retraining (docs/monitoring.md); needs `monitoring`. */
  readonly retraining: RetrainingConfig | undefined;
  /** The pipeline file's folder: relative hook modules start here. */
  readonly baseDir: string;
}

/** Values that replace the file's, from the command line or the environment. */
export interface PipelineOverrides {
  /** Comma-separated `host:port` list. */
  readonly brokers?: string | undefined;
  readonly redisUrl?: string | undefined;
  /** -1 serves no metrics, 0 picks a free port. */
  readonly metricsPort?: number | undefined;
  readonly metricsHost?: string | undefined;
  /** `host:port`. */
  readonly sidecar?: string | undefined;
  /** The group instance id, instead of the file's (`--instance-id`, `SLUICE_INSTANCE_ID`). */
  readonly instanceId?: string | undefined;
  /** The group instance id when the file has none (e.g. the pod's name, see `containerInstanceId`). */
  readonly defaultInstanceId?: string | undefined;
}

// Scalars with messages that say what was expected.

/** A zod error option: `expected <what>, got <what came>`. */
function expected(what: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => `expected ${what}, got ${describeValue(issue.input)}` };
}

const nonNegativeInt = (): z.ZodNumber =>
  z
    .number(expected("a non-negative integer"))
    .int(expected("a non-negative integer"))
    .min(0, expected("a non-negative integer"));

const positiveInt = (): z.ZodNumber =>
  z
    .number(expected("a positive integer"))
    .int(expected("a positive integer"))
    .min(1, expected("a positive integer"));

const HOST_PORT_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$/;
function isHostPort(value: string): boolean {
  const match = HOST_PORT_RE.exec(value);
  const port = Number(match?.[2]);
  return match !== null && port >= 1 && port <= 65535;
}
const hostPort = z.string().refine(isHostPort, expected(`"host:port" such as "127.0.0.1:8001"`));

/** A list of `host:port`, or the same comma-separated in one string (as KAFKA_BROKERS is). */
const brokers = z.preprocess(
  (value) => (typeof value === "string" ? value.split(",").map((broker) => broker.trim()) : value),
  z
    .array(
      z.string().refine(isHostPort, expected(`a broker as "host:port" such as "127.0.0.1:9092"`)),
    )
    .min(1),
);

// Kafka's own rule for topic names (legal characters, at most 249 of them).
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const topic = z
  .string()
  .regex(TOPIC_RE, expected(`a topic name of letters, digits, ".", "_" or "-" (at most 249)`));

/** Kafka takes any text; no spaces keeps it usable in a transactional id and on a command line. */
const INSTANCE_ID_RE = /^[A-Za-z0-9._:-]{1,200}$/;
const instanceId = z
  .string()
  .regex(
    INSTANCE_ID_RE,
    expected(`an id of letters, digits, ".", "_", ":" or "-" (at most 200) like "fraud-0"`),
  );

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const name = z
  .string()
  .regex(NAME_RE, expected(`a name of letters, digits, ".", "_" or "-" like "fraud"`));

const metricsPort = z
  .number(expected("a port from 0 to 65535, or -1 for none"))
  .int(expected("a port from 0 to 65535, or -1 for none"))
  .min(-1, expected("a port from 0 to 65535, or -1 for none"))
  .max(65535, expected("a port from 0 to 65535, or -1 for none"));

const redisUrl = z.string().refine((value) => {
  try {
    return ["redis:", "rediss:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, expected(`a URL like "redis://127.0.0.1:6379"`));

const modelVersion = z.union(
  [positiveInt(), z.string().regex(/^[A-Za-z0-9._-]+$/)],
  expected(`a version number or a label like "stable"`),
);

const probability = z
  .number(expected("a number from 0 to 1"))
  .min(0, expected("a number from 0 to 1"))
  .max(1, expected("a number from 0 to 1"));

const pipelineSchema = z
  .strictObject({
    name,
    kafka: z
      .strictObject({
        client: z
          .enum(KAFKA_CLIENTS, expected(KAFKA_CLIENTS.map((c) => `"${c}"`).join(" or ")))
          .default(DEFAULT_KAFKA_CLIENT),
        brokers: brokers.optional(),
        client_id: z.string().min(1).optional(),
        group_id: z.string().min(1).optional(),
        group_instance_id: instanceId.optional(),
        session_timeout_ms: positiveInt().default(DEFAULT_SESSION_TIMEOUT_MS),
        compression: z
          .enum(COMPRESSIONS, expected(COMPRESSIONS.map((c) => `"${c}"`).join(", ")))
          .default("none"),
        producer_thread: z.boolean(expected("true or false")).optional(),
        tls: kafkaTlsSchema.optional(),
        sasl: kafkaSaslSchema.optional(),
      })
      .default({
        client: DEFAULT_KAFKA_CLIENT,
        session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
        compression: "none",
      })
      .superRefine((kafka, ctx) => {
        const problem =
          kafka.client === "kafkajs" ? kafkajsCompressionProblem(kafka.compression) : undefined;
        if (problem !== undefined) {
          ctx.addIssue({ code: "custom", path: ["compression"], message: problem });
        }
        if (kafka.client === "kafkajs" && kafka.producer_thread === true) {
          ctx.addIssue({
            code: "custom",
            path: ["producer_thread"],
            message: `expected false or nothing with client "kafkajs" (it sends from the consumer's thread), got true`,
          });
        }
      }),
    topics: z.strictObject({
      input: topic,
      output: topic,
      dead_letter: topic,
      review: topic.optional(),
    }),
    decoder: z
      .strictObject({
        format: z.literal("json").default("json"),
        id_field: z.string().min(1).default(DEFAULT_ID_FIELD),
      })
      .default({ format: "json", id_field: DEFAULT_ID_FIELD }),
    features: featureSpecSchema,
    model: z.strictObject({
      sidecar: hostPort,
      name: z.string().min(1),
      version: modelVersion.optional(),
      input: z.string().min(1).optional(),
      deadline_ms: positiveInt().default(DEFAULT_DEADLINE_MS),
    }),
    batch: z
      .strictObject({
        max_events: positiveInt().default(DEFAULT_MAX_EVENTS),
        linger_ms: nonNegativeInt().default(DEFAULT_LINGER_MS),
      })
      .default({ max_events: DEFAULT_MAX_EVENTS, linger_ms: DEFAULT_LINGER_MS }),
    delivery: z.enum(DELIVERY_MODES).default("at_least_once"),
    retry: z
      .strictObject({
        initial_backoff_ms: positiveInt().default(DEFAULT_INITIAL_BACKOFF_MS),
        max_backoff_ms: positiveInt().default(DEFAULT_MAX_BACKOFF_MS),
      })
      .default({
        initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
        max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
      })
      .superRefine((retry, ctx) => {
        if (retry.max_backoff_ms < retry.initial_backoff_ms) {
          ctx.addIssue({
            code: "custom",
            path: ["max_backoff_ms"],
            message: `expected at least initial_backoff_ms (${retry.initial_backoff_ms}), got ${retry.max_backoff_ms}`,
          });
        }
      }),
    review: z
      .strictObject({ confidence_below: probability.default(DEFAULT_REVIEW_CONFIDENCE_BELOW) })
      .default({ confidence_below: DEFAULT_REVIEW_CONFIDENCE_BELOW }),
    redis: z
      .strictObject({
        url: redisUrl.default(DEFAULT_REDIS_URL),
        key_prefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
        max_cached_entities: nonNegativeInt().default(DEFAULT_MAX_CACHED_ENTITIES),
        max_cached_mb: nonNegativeInt().default(DEFAULT_MAX_CACHED_MB),
        retention_slack: durationMs.default(DEFAULT_RETENTION_SLACK_MS),
      })
      .default({
        url: DEFAULT_REDIS_URL,
        key_prefix: DEFAULT_KEY_PREFIX,
        max_cached_entities: DEFAULT_MAX_CACHED_ENTITIES,
        max_cached_mb: DEFAULT_MAX_CACHED_MB,
        retention_slack: DEFAULT_RETENTION_SLACK_MS,
      }),
    metrics: z
      .strictObject({
        port: metricsPort.default(DEFAULT_METRICS_PORT),
        host: z.string().min(1).default(DEFAULT_METRICS_HOST),
      })
      .default({ port: DEFAULT_METRICS_PORT, host: DEFAULT_METRICS_HOST }),
    // Validated by the lifecycle's own schema below, with its paths (parseRolloutConfig).
    rollout: z.unknown().optional(),
    // Validated the same way (parseMonitoringConfig, parseRetrainingConfig).
    monitoring: z.unknown().optional(),
    retraining: z.unknown().optional(),
  })
  .superRefine((pipeline, ctx) => {
    if (pipeline.retraining !== undefined && pipeline.monitoring === undefined) {
      // Its conditions read the monitor's figures: without it they could never hold.
      ctx.addIssue({
        code: "custom",
        path: ["retraining"],
        message:
          "expected a monitoring: section (drift or evaluation) for its conditions to read, got none",
      });
    }
    if (pipeline.rollout !== undefined && pipeline.model.version !== undefined) {
      // Two sources of the version would leave one of them silently ignored.
      ctx.addIssue({
        code: "custom",
        path: ["model", "version"],
        message: `expected no version when rollout.arms name the versions, got ${describeValue(pipeline.model.version)}`,
      });
    }
    const { input, output, dead_letter, review } = pipeline.topics;
    // Reading what it writes would feed predictions back in as events, forever.
    for (const [key, value] of [
      ["output", output],
      ["dead_letter", dead_letter],
      ["review", review],
    ] as const) {
      if (value === input) {
        ctx.addIssue({
          code: "custom",
          path: ["topics", key],
          message: `expected a topic other than the input topic, got ${describeValue(value)}`,
        });
      }
    }
  });

const fileSchema = z.strictObject({ pipeline: pipelineSchema });

/**
 * Validates a parsed pipeline document (`{ pipeline: {...} }`) and fills defaults. Throws a
 * `config_invalid` ConsumerError with one line per problem, each naming its path.
 * `baseDir` is where relative hook modules are found. @default process.cwd()
 */
export function parsePipelineConfig(
  document: unknown,
  overrides: PipelineOverrides = {},
  baseDir = process.cwd(),
): PipelineConfig {
  const parsed = fileSchema.safeParse(applyOverrides(document, overrides), {
    error: schemaErrorMap,
  });
  if (!parsed.success) {
    throw new ConsumerError("config_invalid", formatIssues(parsed.error).join("\n"), {
      cause: parsed.error,
    });
  }
  const p = parsed.data.pipeline;
  return {
    name: p.name,
    kafka: {
      client: p.kafka.client,
      brokers: p.kafka.brokers ?? DEFAULT_BROKERS,
      // Named after the pipeline, so two pipelines on one cluster never share a group by accident.
      clientId: p.kafka.client_id ?? `sluice-${p.name}`,
      groupId: p.kafka.group_id ?? `sluice-${p.name}`,
      groupInstanceId: p.kafka.group_instance_id ?? overrides.defaultInstanceId,
      sessionTimeoutMs: p.kafka.session_timeout_ms,
      compression: p.kafka.compression,
      // On by default where the client has one: the consumer's thread is the pipeline's bottleneck.
      producerThread: p.kafka.producer_thread ?? p.kafka.client === "platformatic",
      security: kafkaSecuritySettings(p.kafka.tls, p.kafka.sasl, baseDir),
    },
    topics: {
      input: p.topics.input,
      output: p.topics.output,
      deadLetter: p.topics.dead_letter,
      review: p.topics.review,
    },
    decoder: { format: p.decoder.format, idField: p.decoder.id_field },
    features: p.features,
    model: {
      sidecar: p.model.sidecar,
      name: p.model.name,
      version: p.model.version,
      input: p.model.input,
      deadlineMs: p.model.deadline_ms,
    },
    batch: { maxEvents: p.batch.max_events, lingerMs: p.batch.linger_ms },
    delivery: p.delivery,
    retry: {
      initialBackoffMs: p.retry.initial_backoff_ms,
      maxBackoffMs: p.retry.max_backoff_ms,
    },
    review: { confidenceBelow: p.review.confidence_below },
    redis: {
      url: p.redis.url,
      keyPrefix: p.redis.key_prefix,
      maxCachedEntities: p.redis.max_cached_entities,
      maxCachedBytes: p.redis.max_cached_mb * 2 ** 20,
      retentionSlackMs: p.redis.retention_slack,
    },
    metrics: { host: p.metrics.host, port: p.metrics.port },
    rollout: p.rollout === undefined ? undefined : parseRolloutConfig(p.rollout, p.name),
    monitoring:
      p.monitoring === undefined
        ? undefined
        : parseMonitoringConfig(p.monitoring, p.name, (path) => resolve(baseDir, path)),
    retraining: p.retraining === undefined ? undefined : parseRetrainingConfig(p.retraining),
    baseDir,
  };
}

/** Parses pipeline YAML text; `source` names the file in messages. */
export function parsePipelineYaml(
  text: string,
  source = "pipeline file",
  overrides: PipelineOverrides = {},
  baseDir = process.cwd(),
): PipelineConfig {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const where = error instanceof YAMLParseError ? error.message : String(error);
    throw new ConsumerError("config_invalid", `${source}: not valid YAML: ${where}`, {
      cause: error,
    });
  }
  try {
    return parsePipelineConfig(document, overrides, baseDir);
  } catch (error) {
    if (ConsumerError.is(error, "config_invalid")) {
      throw new ConsumerError("config_invalid", `${source}:\n${error.message}`, {
        cause: error.cause,
      });
    }
    throw error;
  }
}

/** Reads and validates a pipeline file; relative hook modules start at its folder. */
export async function loadPipelineConfig(
  path: string,
  overrides: PipelineOverrides = {},
): Promise<PipelineConfig> {
  const text = await readConfigFile(path, "pipeline file");
  return parsePipelineYaml(text, path, overrides, dirname(resolve(path)));
}

/**
 * The group instance id a process gets by default when nothing names one: in a container, its
 * host name, which is the pod's name in Kubernetes (kept across restarts of the container, unique
 * per replica) and the container's id in Docker (kept across `docker restart`). Outside a
 * container none: two processes on one host would share the host name, and two members with one
 * instance id fence each other out; give each its own with `--instance-id` or `SLUICE_INSTANCE_ID`.
 */
export function containerInstanceId(
  env: NodeJS.ProcessEnv = process.env,
  inDocker: () => boolean = () => existsSync("/.dockerenv"),
): string | undefined {
  const host = env["HOSTNAME"];
  if (host === undefined || !INSTANCE_ID_RE.test(host)) return undefined;
  return env["KUBERNETES_SERVICE_HOST"] !== undefined || inDocker() ? host : undefined;
}

/** The overrides written into the document, so they are validated with the same paths. */
function applyOverrides(document: unknown, overrides: PipelineOverrides): unknown {
  const { brokers, redisUrl, sidecar, metricsPort, metricsHost, instanceId } = overrides;
  if (
    brokers === undefined &&
    redisUrl === undefined &&
    sidecar === undefined &&
    metricsPort === undefined &&
    metricsHost === undefined &&
    instanceId === undefined
  )
    return document;
  if (!isMapping(document) || !isMapping(document["pipeline"])) return document;
  const pipeline = { ...document["pipeline"] };
  if (brokers !== undefined) pipeline["kafka"] = { ...asMapping(pipeline["kafka"]), brokers };
  if (instanceId !== undefined)
    pipeline["kafka"] = { ...asMapping(pipeline["kafka"]), group_instance_id: instanceId };
  if (redisUrl !== undefined)
    pipeline["redis"] = { ...asMapping(pipeline["redis"]), url: redisUrl };
  if (sidecar !== undefined) pipeline["model"] = { ...asMapping(pipeline["model"]), sidecar };
  if (metricsPort !== undefined)
    pipeline["metrics"] = { ...asMapping(pipeline["metrics"]), port: metricsPort };
  if (metricsHost !== undefined)
    pipeline["metrics"] = { ...asMapping(pipeline["metrics"]), host: metricsHost };
  return { ...document, pipeline };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function asMapping(value: unknown): Record<string, unknown> {
  return isMapping(value) ? value : {};
}
