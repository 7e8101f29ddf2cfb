/**
 * The `monitoring:` section of a pipeline file: drift, online evaluation and the label topic.
 *
 * ```yaml
 * monitoring:
 *   drift:
 *     reference: file               # reference.json beside each version in model_repository,
 *     model_repository: ../models   #   relative to the pipeline file
 *     # reference: { warmup_events: 5000 }   # or the first 5,000 events of live traffic
 *     window: { events: 10000 }     # or { duration: 1h }; slices: 10
 *     min_events: 1000
 *     bands: { moderate: 0.1, major: 0.25 }
 *     hysteresis: 0.02
 *     topic: fraud-drift            # optional: each band change, as JSON
 *   evaluation:
 *     window: { duration: 6h }
 *     threshold: 0.5                # per version: thresholds: { "2": 0.4 }
 *     topic: fraud-evaluation       # optional: the figures, as JSON, as labels join
 *   labels:
 *     topic: fraud-labels           # {"id": …, "label": 1, "labelled_at": …}, keyed like the events
 *     ttl: 30d                      # longer than the longest label delay
 * ```
 *
 * Validated here with every default filled; the pipeline reads it in consumer/src/monitoring/
 * (docs/monitoring.md).
 */
import { z } from "zod";
import {
  durationMs,
  fraction,
  nonNegative,
  parseSection,
  positiveInt,
  windowSchema,
} from "./config-schemas.js";
import {
  DEFAULT_DRIFT_HYSTERESIS,
  DEFAULT_DRIFT_MIN_EVENTS,
  DEFAULT_DRIFT_WINDOW,
  DEFAULT_PSI_BANDS,
} from "./drift-monitor.js";
import { DEFAULT_EVALUATION_WINDOW, DEFAULT_THRESHOLD } from "./online-evaluator.js";
import { DEFAULT_LABEL_TTL_MS } from "../ports/label-join.js";
import type { WindowSpec } from "./sliced-window.js";

export interface DriftSectionConfig {
  /** `file`: reference.json beside each version; or the first N events of live traffic. */
  readonly reference:
    | { readonly kind: "file"; readonly modelRepository: string }
    | { readonly kind: "warmup"; readonly events: number };
  readonly window: WindowSpec;
  readonly minEvents: number;
  readonly bands: { readonly moderate: number; readonly major: number };
  readonly hysteresis: number;
  /** Where each band change goes, as JSON; none when undefined. */
  readonly topic: string | undefined;
}

export interface EvaluationSectionConfig {
  readonly window: WindowSpec;
  readonly threshold: number;
  readonly thresholds: Readonly<Record<string, number>>;
  /** Where the figures go, as JSON, after each label batch joins; none when undefined. */
  readonly topic: string | undefined;
}

export interface LabelsSectionConfig {
  readonly topic: string;
  readonly idField: string;
  readonly labelField: string;
  readonly timeField: string;
  readonly ttlMs: number;
  /** The Redis key prefix of the join; @default "sluice:labels:<pipeline>:" */
  readonly keyPrefix: string;
}

export interface MonitoringConfig {
  readonly drift: DriftSectionConfig | undefined;
  readonly evaluation: EvaluationSectionConfig | undefined;
  readonly labels: LabelsSectionConfig | undefined;
}

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;

const topicName = () =>
  z.string().regex(TOPIC_RE, {
    error: (issue) =>
      `expected a topic name of letters, digits, ".", "_" or "-" (at most 249), got ${JSON.stringify(issue.input)}`,
  });

const driftSchema = z
  .strictObject({
    reference: z.union([z.literal("file"), z.strictObject({ warmup_events: positiveInt() })]),
    model_repository: z.string().min(1).optional(),
    window: windowSchema.optional(),
    min_events: positiveInt().default(DEFAULT_DRIFT_MIN_EVENTS),
    bands: z
      .strictObject({ moderate: nonNegative(), major: nonNegative() })
      .default({ ...DEFAULT_PSI_BANDS }),
    hysteresis: nonNegative().default(DEFAULT_DRIFT_HYSTERESIS),
    topic: topicName().optional(),
  })
  .superRefine((d, ctx) => {
    if (d.reference === "file" && d.model_repository === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["model_repository"],
        message:
          "expected the model repository's folder (where each version's reference.json is) with reference: file, got nothing",
      });
    }
    if (!(d.bands.moderate > 0 && d.bands.major > d.bands.moderate)) {
      ctx.addIssue({
        code: "custom",
        path: ["bands"],
        message: `expected 0 < moderate < major, got moderate ${d.bands.moderate}, major ${d.bands.major}`,
      });
    } else if (d.hysteresis >= d.bands.moderate) {
      ctx.addIssue({
        code: "custom",
        path: ["hysteresis"],
        message: `expected less than bands.moderate (${d.bands.moderate}), got ${d.hysteresis}`,
      });
    }
  });

const monitoringSchema = z.strictObject({
  drift: driftSchema.optional(),
  evaluation: z
    .strictObject({
      window: windowSchema.optional(),
      threshold: fraction().default(DEFAULT_THRESHOLD),
      thresholds: z.record(z.string(), fraction()).default({}),
      topic: topicName().optional(),
    })
    .optional(),
  labels: z
    .strictObject({
      topic: topicName(),
      id_field: z.string().min(1).default("id"),
      label_field: z.string().min(1).default("label"),
      time_field: z.string().min(1).default("labelled_at"),
      ttl: durationMs.optional(),
      key_prefix: z.string().min(1).optional(),
    })
    .optional(),
});

/**
 * Validates a `monitoring:` section and fills defaults; `resolvePath` resolves a relative
 * `model_repository`, `pipelineName` names the label join's keys. Throws a `config_invalid`
 * ConsumerError naming each problem's path under `root`.
 */
export function parseMonitoringConfig(
  value: unknown,
  pipelineName: string,
  resolvePath: (path: string) => string = (path) => path,
  root: readonly PropertyKey[] = ["pipeline", "monitoring"],
): MonitoringConfig {
  const m = parseSection(monitoringSchema, value, root);
  return {
    drift:
      m.drift === undefined
        ? undefined
        : {
            reference:
              m.drift.reference === "file"
                ? { kind: "file", modelRepository: resolvePath(m.drift.model_repository ?? ".") }
                : { kind: "warmup", events: m.drift.reference.warmup_events },
            window: m.drift.window ?? DEFAULT_DRIFT_WINDOW,
            minEvents: m.drift.min_events,
            bands: m.drift.bands,
            hysteresis: m.drift.hysteresis,
            topic: m.drift.topic,
          },
    evaluation:
      m.evaluation === undefined
        ? undefined
        : {
            window: m.evaluation.window ?? DEFAULT_EVALUATION_WINDOW,
            threshold: m.evaluation.threshold,
            thresholds: m.evaluation.thresholds,
            topic: m.evaluation.topic,
          },
    labels:
      m.labels === undefined
        ? undefined
        : {
            topic: m.labels.topic,
            idField: m.labels.id_field,
            labelField: m.labels.label_field,
            timeField: m.labels.time_field,
            ttlMs: m.labels.ttl ?? DEFAULT_LABEL_TTL_MS,
            keyPrefix: m.labels.key_prefix ?? `sluice:labels:${pipelineName}:`,
          },
  };
}
