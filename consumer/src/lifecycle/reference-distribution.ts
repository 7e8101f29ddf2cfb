/**
 * Reference distributions: what a model version's inputs and score looked like when it was made,
 * for the drift monitor to compare live traffic with. Read from the `reference.json` that
 * `scripts/models/train_models.py` writes next to each `model.onnx` (format in
 * examples/models/README.md), or built from a warm-up window of live traffic with the same
 * binning (`referenceFromSamples`).
 */
import { join } from "node:path";
import { z } from "zod";
import { errorMessage } from "@sluice/kit";
import { readConfigFile } from "../config/read-config-file.js";
import { ConsumerError } from "../errors.js";
import { parseSection } from "./config-schemas.js";

export const REFERENCE_FORMAT = "sluice.reference/v1";
export const REFERENCE_FILE_NAME = "reference.json";
/** Deciles, as the training script writes them: the usual PSI binning. */
export const DEFAULT_FEATURE_BINS = 10;
export const DEFAULT_SCORE_BINS = 10;
/** Percentiles of the score: KS from bins within about 0.01 of the exact value. */
export const DEFAULT_SCORE_CDF_BINS = 100;
/** Shares must add up to 1 within this: the file rounds them to nine digits. */
const PROPORTION_SUM_TOLERANCE = 1e-6;

/** Right-closed, open-ended bins (see distribution-distance.ts) and the reference share of each. */
export interface BinnedDistribution {
  readonly edges: readonly number[];
  /** One more than `edges`; sums to 1. */
  readonly proportions: readonly number[];
}

export interface FeatureReference extends BinnedDistribution {
  readonly name: string;
  /** The column in the model's input. */
  readonly index: number;
}

export interface ScoreReference extends BinnedDistribution {
  /** The output and class the score is read from (`probabilities`, 1). */
  readonly output: string;
  readonly classIndex: number;
  /** Where scores can lie: the end bins of the Wasserstein integral. */
  readonly domain: readonly [number, number];
  /** Finer bins for KS and Wasserstein. */
  readonly cdf: BinnedDistribution;
}

export interface ReferenceDistributions {
  /** `file` (reference.json) or `warmup` (built from live traffic). */
  readonly source: "file" | "warmup";
  readonly model: string | undefined;
  readonly version: number | undefined;
  /** Rows the distributions were taken from. */
  readonly rows: number;
  readonly features: readonly FeatureReference[];
  readonly score: ScoreReference | undefined;
  /** The version's held-out figures, when the file has them: a baseline for online evaluation. */
  readonly evaluation: Readonly<Record<string, number>> | undefined;
}

const finite = z.number().refine(Number.isFinite, { error: "expected a finite number" });

const binned = z
  .object({
    edges: z.array(finite),
    proportions: z.array(z.number().min(0)).min(1),
  })
  .superRefine((d, ctx) => {
    for (let i = 1; i < d.edges.length; i++) {
      if (!(d.edges[i]! > d.edges[i - 1]!)) {
        ctx.addIssue({
          code: "custom",
          path: ["edges", i],
          message: `expected edges in strictly ascending order, got ${d.edges[i]} after ${d.edges[i - 1]}`,
        });
        break;
      }
    }
    if (d.proportions.length !== d.edges.length + 1) {
      ctx.addIssue({
        code: "custom",
        path: ["proportions"],
        message: `expected ${d.edges.length + 1} proportions (one more than edges), got ${d.proportions.length}`,
      });
    }
    const sum = d.proportions.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > PROPORTION_SUM_TOLERANCE) {
      ctx.addIssue({
        code: "custom",
        path: ["proportions"],
        message: `expected proportions summing to 1, got ${sum}`,
      });
    }
  });

const referenceSchema = z
  .object({
    format: z.literal(REFERENCE_FORMAT),
    model: z.string().optional(),
    version: z.number().int().min(1).optional(),
    features_rows: z.number().int().min(1),
    features: z.array(
      z.object({ name: z.string().min(1), index: z.number().int().min(0) }).and(binned),
    ),
    score: z
      .object({
        output: z.string().min(1),
        class_index: z.number().int().min(0),
        rows: z.number().int().min(1),
        domain: z.tuple([finite, finite]),
        cdf: binned,
      })
      .and(binned)
      .optional(),
    evaluation: z.record(z.string(), z.number()).optional(),
  })
  .superRefine((doc, ctx) => {
    const seen = new Map<string, number>();
    doc.features.forEach((feature, i) => {
      if (seen.has(feature.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["features", i, "name"],
          message: `expected a name no other feature has, got ${JSON.stringify(feature.name)} (also features[${seen.get(feature.name)}])`,
        });
      }
      seen.set(feature.name, i);
    });
    if (doc.score !== undefined && !(doc.score.domain[0] < doc.score.domain[1])) {
      ctx.addIssue({
        code: "custom",
        path: ["score", "domain"],
        message: `expected [low, high] with low < high, got [${doc.score.domain.join(", ")}]`,
      });
    }
  });

/**
 * Validates a parsed reference.json; `source` (its path) starts every message:
 * `examples/models/fraud/2/reference.json: features[3].proportions: expected 4 proportions (one more than edges), got 3`.
 */
export function parseReference(
  document: unknown,
  source = REFERENCE_FILE_NAME,
): ReferenceDistributions {
  let doc: z.output<typeof referenceSchema>;
  try {
    doc = parseSection(referenceSchema, document, []);
  } catch (error) {
    throw new ConsumerError("config_invalid", prefixLines(source, errorMessage(error)), {
      cause: error,
    });
  }
  return {
    source: "file",
    model: doc.model,
    version: doc.version,
    rows: doc.features_rows,
    features: doc.features.map((f) => ({
      name: f.name,
      index: f.index,
      edges: f.edges,
      proportions: f.proportions,
    })),
    score:
      doc.score === undefined
        ? undefined
        : {
            output: doc.score.output,
            classIndex: doc.score.class_index,
            domain: doc.score.domain,
            edges: doc.score.edges,
            proportions: doc.score.proportions,
            cdf: { edges: doc.score.cdf.edges, proportions: doc.score.cdf.proportions },
          },
    evaluation: doc.evaluation,
  };
}

function prefixLines(source: string, message: string): string {
  return message
    .split("\n")
    .map((line) => `${source}: ${line}`)
    .join("\n");
}

/** Where a version's reference sits in a model repository: `<repository>/<model>/<version>/reference.json`. */
export function referencePath(repository: string, model: string, version: number): string {
  return join(repository, model, String(version), REFERENCE_FILE_NAME);
}

/** Reads and validates a reference.json. */
export async function loadReference(path: string): Promise<ReferenceDistributions> {
  const text = await readConfigFile(path, "reference distributions");
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConsumerError("config_invalid", `${path}: not valid JSON: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  return parseReference(document, path);
}

/**
 * Bins of `values` (sorted in place) as the training script makes them: interior edges at the
 * k/`bins` quantiles (the smallest value whose cumulative share reaches k/bins), deduplicated,
 * without the maximum, so every bin holds at least one value.
 */
export function binnedFromSamples(values: Float64Array, bins: number): BinnedDistribution {
  const n = values.length;
  if (n === 0) throw new RangeError("reference: expected at least one value to bin");
  values.sort();
  const max = values[n - 1]!;
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    // k·n/bins in integers first: 0.1 × 1000 in floating point is 100.00000000000001.
    const q = values[Math.max(Math.ceil((k * n) / bins) - 1, 0)]!;
    if (q < max && (edges.length === 0 || q > edges[edges.length - 1]!)) edges.push(q);
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  let bin = 0;
  for (let i = 0; i < n; i++) {
    while (bin < edges.length && values[i]! > edges[bin]!) bin++;
    counts[bin]!++;
  }
  return { edges, proportions: counts.map((c) => c / n) };
}

export interface SampleReferenceOptions {
  /** @default 10 */
  readonly featureBins?: number;
  /** @default 10 */
  readonly scoreBins?: number;
  /** @default 100 */
  readonly scoreCdfBins?: number;
  /** @default [0, 1] */
  readonly scoreDomain?: readonly [number, number];
}

/**
 * Reference distributions from `rows` rows of live traffic: `values` row-major with one column
 * per name in `columns`, `scores` one per row (or none). NaN values are left out of their
 * feature's bins.
 */
export function referenceFromSamples(
  columns: readonly string[],
  values: ArrayLike<number>,
  rows: number,
  scores: ArrayLike<number> | undefined,
  options: SampleReferenceOptions = {},
): ReferenceDistributions {
  const width = columns.length;
  const features: FeatureReference[] = [];
  columns.forEach((name, index) => {
    const column: number[] = [];
    for (let r = 0; r < rows; r++) {
      const v = values[r * width + index]!;
      if (!Number.isNaN(v)) column.push(v);
    }
    if (column.length === 0) return;
    const bins = binnedFromSamples(
      Float64Array.from(column),
      options.featureBins ?? DEFAULT_FEATURE_BINS,
    );
    features.push({ name, index, ...bins });
  });
  let score: ScoreReference | undefined;
  if (scores !== undefined) {
    const s: number[] = [];
    for (let r = 0; r < rows; r++) if (!Number.isNaN(scores[r]!)) s.push(scores[r]!);
    if (s.length > 0) {
      score = {
        output: "score",
        classIndex: 1,
        domain: options.scoreDomain ?? [0, 1],
        ...binnedFromSamples(Float64Array.from(s), options.scoreBins ?? DEFAULT_SCORE_BINS),
        cdf: binnedFromSamples(
          Float64Array.from(s),
          options.scoreCdfBins ?? DEFAULT_SCORE_CDF_BINS,
        ),
      };
    }
  }
  return {
    source: "warmup",
    model: undefined,
    version: undefined,
    rows,
    features,
    score,
    evaluation: undefined,
  };
}
