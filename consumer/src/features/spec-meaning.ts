/**
 * The meaning of a `features:` section: exactly one source per feature, value types flowing
 * through the transforms (a string needs an encoding, an encoding comes last), aggregations that
 * fit their field, unique output names. Produces the normalized spec of `feature-definition.ts`.
 */
import {
  DEFAULT_LOOKUP_CACHE_TTL_MS,
  DEFAULT_LOOKUP_NULL_VALUE,
  type FeatureDefinition,
  type FeatureSpec,
  type FieldSource,
  type FieldType,
  type LookupMissing,
  type LookupSource,
  type Operand,
  type OperandSource,
  type Scalar,
  type SincePreviousSource,
  type Source,
  type TimeSource,
  type Transform,
  type WindowSource,
} from "./feature-definition.js";
import { describeValue } from "@sluice/kit";
import {
  STEP_KEYS,
  type RawEntry,
  type RawFeatures,
  type RawOperand,
  type RawStep,
} from "./spec-yaml.js";

type Path = readonly (string | number)[];
export interface Issue {
  readonly path: Path;
  readonly message: string;
}

const OPERAND_SOURCE_KEYS = ["field", "window", "since_previous", "time", "lookup"] as const;
const ENTRY_SOURCE_KEYS = [...OPERAND_SOURCE_KEYS, "ratio", "hook"] as const;

/** What a source or step yields: one number, one string, or a fixed number of floats. */
type Shape =
  | { readonly kind: "number" }
  | { readonly kind: "string" }
  | { readonly kind: "vector"; readonly suffixes: readonly string[] };
const NUMBER: Shape = { kind: "number" };
const STRING: Shape = { kind: "string" };

function oneOf(keys: readonly string[]): string {
  return keys.join(", ");
}

function pickSource<K extends string>(
  raw: Partial<Record<K, unknown>>,
  keys: readonly K[],
  path: Path,
  issues: Issue[],
): K | undefined {
  const present = keys.filter((key) => raw[key] !== undefined);
  if (present.length === 1) return present[0];
  issues.push({
    path,
    message: `expected exactly one of ${oneOf(keys)}, got ${present.length === 0 ? "none" : present.join(" and ")}`,
  });
  return undefined;
}

function checkDefault(
  value: Scalar | undefined,
  type: FieldType,
  path: Path,
  issues: Issue[],
): void {
  if (value !== undefined && typeof value !== type) {
    issues.push({
      path,
      message: `expected a ${type} (the field's type), got ${describeValue(value)}`,
    });
  }
}

function operandSource(
  raw: RawOperand,
  key: (typeof OPERAND_SOURCE_KEYS)[number],
  path: Path,
  issues: Issue[],
): { source: OperandSource; shape: Shape } | undefined {
  if (key !== "field") {
    for (const extra of ["type", "default"] as const) {
      if (raw[extra] !== undefined) {
        issues.push({ path: [...path, extra], message: `only applies to a "field" feature` });
      }
    }
  }
  switch (key) {
    case "field": {
      const type = raw.type ?? "number";
      checkDefault(raw.default, type, [...path, "default"], issues);
      const source: FieldSource = {
        kind: "field",
        path: raw.field ?? "",
        type,
        default: raw.default,
      };
      return { source, shape: type === "string" ? STRING : NUMBER };
    }
    case "window": {
      const window = raw.window!;
      const wpath = [...path, "window"];
      if (window.agg === "count") {
        if (window.field !== undefined) {
          issues.push({
            path: [...wpath, "field"],
            message: `count takes no field, got "${window.field}"`,
          });
        }
      } else if (window.field === undefined) {
        issues.push({
          path: [...wpath, "field"],
          message: `${window.agg} needs the field to aggregate, got nothing`,
        });
      } else if (window.agg !== "distinct_count" && typeof window.default === "string") {
        issues.push({
          path: [...wpath, "default"],
          message: `expected a number (${window.agg} aggregates numbers), got ${describeValue(window.default)}`,
        });
      }
      const source: WindowSource = {
        kind: "window",
        aggregation: window.agg,
        field: window.field,
        overMs: window.over,
        default: window.default,
      };
      return { source, shape: NUMBER };
    }
    case "since_previous": {
      const since = raw.since_previous!;
      const source: SincePreviousSource = {
        kind: "since_previous",
        capSeconds: since.cap / 1000,
        defaultSeconds: (since.default ?? since.cap) / 1000,
      };
      return { source, shape: NUMBER };
    }
    case "time": {
      const time = raw.time!;
      const source: TimeSource = { kind: "time", part: time.part, encoding: time.encoding };
      return {
        source,
        shape: time.encoding === "cyclic" ? { kind: "vector", suffixes: ["sin", "cos"] } : NUMBER,
      };
    }
    case "lookup": {
      const lookup = raw.lookup!;
      const lpath = [...path, "lookup"];
      if (lookup.default !== undefined && typeof lookup.default !== lookup.type) {
        issues.push({
          path: [...lpath, "default"],
          message: `expected a ${lookup.type} (the lookup's type), got ${describeValue(lookup.default)}`,
        });
      }
      if (lookup.compare !== undefined && lookup.type !== "string") {
        issues.push({
          path: [...lpath, "compare"],
          message: `compares strings: expected type string, got ${lookup.type}`,
        });
      }
      const source: LookupSource = {
        kind: "lookup",
        key: lookup.key,
        field: lookup.field,
        type: lookup.type,
        missing: lookupMissing(lookup, lpath, issues),
        cacheTtlMs: lookup.cache_ttl ?? DEFAULT_LOOKUP_CACHE_TTL_MS,
        compare:
          lookup.compare === undefined
            ? undefined
            : {
                op: lookup.compare.op,
                field: lookup.compare.field,
                default: lookup.compare.default,
              },
      };
      const shape = lookup.compare !== undefined || lookup.type === "number" ? NUMBER : STRING;
      return { source, shape };
    }
  }
}

/**
 * The lookup's missing policy: `default` needs a default and `null` may give a null_value; each is
 * refused beside the other policies. Without `missing`, a default means `default`, and no default
 * means `null` with zeros: the event is scored, never dropped.
 */
function lookupMissing(
  lookup: NonNullable<RawOperand["lookup"]>,
  path: Path,
  issues: Issue[],
): LookupMissing {
  const policy = lookup.missing ?? (lookup.default === undefined ? "null" : "default");
  if (lookup.default !== undefined && policy !== "default") {
    issues.push({
      path: [...path, "default"],
      message: `is used with missing: default only, got missing: ${policy}`,
    });
  }
  if (lookup.null_value !== undefined && policy !== "null") {
    issues.push({
      path: [...path, "null_value"],
      message: `is used with missing: null only, got missing: ${policy}`,
    });
  }
  switch (policy) {
    case "default":
      if (lookup.default === undefined) {
        issues.push({
          path: [...path, "default"],
          message: `expected the value that stands for a missing ${lookup.field} (missing: default), got none`,
        });
      }
      return { policy, value: lookup.default ?? "" };
    case "dlq":
      return { policy };
    case "null":
      return { policy, value: lookup.null_value ?? DEFAULT_LOOKUP_NULL_VALUE };
  }
}

function stepKey(
  step: RawStep,
  path: Path,
  issues: Issue[],
): (typeof STEP_KEYS)[number] | undefined {
  return pickSource(step, STEP_KEYS, path, issues);
}

/** Applies the steps to a shape, normalizing them; encodings turn a value into several floats. */
function transforms(
  steps: readonly RawStep[],
  start: Shape,
  path: Path,
  issues: Issue[],
): { transforms: Transform[]; shape: Shape; ok: boolean } {
  const out: Transform[] = [];
  let shape = start;
  const before = issues.length;
  steps.forEach((step, i) => {
    const spath = [...path, "transform", i];
    const key = stepKey(step, spath, issues);
    if (key === undefined) return;
    if (shape.kind === "vector") {
      issues.push({
        path: spath,
        message: `${key} cannot follow a step that already produced ${shape.suffixes.length} values (encodings come last)`,
      });
      return;
    }
    const wants = key === "one_hot" || key === "hash_buckets" ? "string" : "number";
    if (shape.kind !== wants) {
      issues.push({
        path: spath,
        message: `${key} expects a ${wants} value, got a ${shape.kind} (${wants === "string" ? "set type: string on the field" : "encode strings with one_hot or hash_buckets"})`,
      });
      return;
    }
    switch (key) {
      case "log1p":
      case "log":
        out.push({ kind: key });
        return;
      case "clip": {
        const clip = step.clip!;
        const min = clip.min ?? Number.NEGATIVE_INFINITY;
        const max = clip.max ?? Number.POSITIVE_INFINITY;
        if (clip.min === undefined && clip.max === undefined) {
          issues.push({
            path: [...spath, "clip"],
            message: "expected min, max or both, got neither",
          });
        } else if (min > max) {
          issues.push({
            path: [...spath, "clip"],
            message: `expected min ≤ max, got min ${min} > max ${max}`,
          });
        }
        out.push({ kind: "clip", min, max });
        return;
      }
      case "bucketize": {
        const { boundaries, output } = step.bucketize!;
        const bad = boundaries.findIndex((b, j) => j > 0 && b <= (boundaries[j - 1] ?? b));
        if (bad > 0) {
          issues.push({
            path: [...spath, "bucketize", "boundaries", bad],
            message: `expected boundaries in increasing order, got ${boundaries[bad]} after ${boundaries[bad - 1]}`,
          });
        }
        out.push({ kind: "bucketize", boundaries, output });
        shape =
          output === "index"
            ? NUMBER
            : {
                kind: "vector",
                suffixes: Array.from({ length: boundaries.length + 1 }, (_, j) => String(j)),
              };
        return;
      }
      case "one_hot": {
        const { vocabulary } = step.one_hot!;
        const seen = new Set<string>();
        vocabulary.forEach((word, j) => {
          if (seen.has(word)) {
            issues.push({
              path: [...spath, "one_hot", "vocabulary", j],
              message: `"${word}" is listed twice`,
            });
          }
          seen.add(word);
        });
        out.push({ kind: "one_hot", vocabulary });
        shape = { kind: "vector", suffixes: vocabulary };
        return;
      }
      case "hash_buckets": {
        const { buckets, output } = step.hash_buckets!;
        out.push({ kind: "hash_buckets", buckets, output });
        shape =
          output === "index"
            ? NUMBER
            : { kind: "vector", suffixes: Array.from({ length: buckets }, (_, j) => String(j)) };
        return;
      }
    }
  });
  return { transforms: out, shape, ok: issues.length === before };
}

function operand(raw: RawOperand, path: Path, issues: Issue[]): Operand | undefined {
  const key = pickSource(raw, OPERAND_SOURCE_KEYS, path, issues);
  if (key === undefined) return undefined;
  const picked = operandSource(raw, key, path, issues);
  if (picked === undefined) return undefined;
  const result = transforms(raw.transform, picked.shape, path, issues);
  if (result.ok && result.shape.kind !== "number") {
    issues.push({
      path,
      message: `a ratio operand must be one number, got ${result.shape.kind === "string" ? "a string" : `${result.shape.suffixes.length} values`}`,
    });
  }
  return { source: picked.source, transforms: result.transforms };
}

function entry(raw: RawEntry, path: Path, issues: Issue[]): FeatureDefinition | undefined {
  const key = pickSource(raw, ENTRY_SOURCE_KEYS, path, issues);
  if (key === undefined) return undefined;

  if (key === "hook") {
    const hook = raw.hook!;
    for (const extra of ["names", "transform"] as const) {
      const present = extra === "transform" ? raw.transform.length > 0 : raw.names !== undefined;
      if (present) {
        issues.push({
          path: [...path, extra],
          message: `does not apply to a hook: its outputs are named by hook.outputs and computed by the hook`,
        });
      }
    }
    return {
      name: raw.name ?? hook.outputs.join(","),
      outputs: hook.outputs,
      source: { kind: "hook", module: hook.module, exportName: hook.export, outputs: hook.outputs },
      transforms: [],
    };
  }

  if (raw.name === undefined) {
    issues.push({ path: [...path, "name"], message: "expected a feature name, got nothing" });
    return undefined;
  }
  let source: Source;
  let shape: Shape;
  if (key === "ratio") {
    const ratio = raw.ratio!;
    for (const extra of ["type", "default"] as const) {
      if (raw[extra] !== undefined) {
        issues.push({ path: [...path, extra], message: `only applies to a "field" feature` });
      }
    }
    const numerator = operand(ratio.numerator, [...path, "ratio", "numerator"], issues);
    const denominator = operand(ratio.denominator, [...path, "ratio", "denominator"], issues);
    if (numerator === undefined || denominator === undefined) return undefined;
    source = {
      kind: "ratio",
      numerator,
      denominator,
      minDenominator: ratio.min_denominator ?? Number.NEGATIVE_INFINITY,
    };
    shape = NUMBER;
  } else {
    const picked = operandSource(raw, key, path, issues);
    if (picked === undefined) return undefined;
    source = picked.source;
    shape = picked.shape;
  }
  const result = transforms(raw.transform, shape, path, issues);
  if (!result.ok) return undefined;
  const name = raw.name;
  let outputs: readonly string[];
  switch (result.shape.kind) {
    case "string":
      issues.push({
        path,
        message: `"${name}" is a string: add a one_hot or hash_buckets transform to turn it into numbers`,
      });
      return undefined;
    case "number":
      outputs = [name];
      break;
    case "vector":
      outputs = result.shape.suffixes.map((suffix) => `${name}_${suffix}`);
      break;
  }
  if (raw.names !== undefined) {
    if (raw.names.length !== outputs.length) {
      issues.push({
        path: [...path, "names"],
        message: `expected ${outputs.length} names (one per output of "${name}"), got ${raw.names.length}`,
      });
    } else {
      outputs = raw.names;
    }
  }
  return { name, outputs, source, transforms: result.transforms };
}

/**
 * Checks what the values mean together and builds the spec; pushes one issue per problem (paths
 * relative to the section) and returns undefined when there is any.
 */
export function normalizeSpec(raw: RawFeatures, issues: Issue[]): FeatureSpec | undefined {
  const before = issues.length;
  const features: FeatureDefinition[] = [];
  raw.vector.forEach((rawDefinition, i) => {
    const definition = entry(rawDefinition, ["vector", i], issues);
    if (definition !== undefined) features.push(definition);
  });
  const seen = new Map<string, number>();
  let index = 0;
  for (const definition of features) {
    for (const name of definition.outputs) {
      const first = seen.get(name);
      if (first === undefined) seen.set(name, index);
      else {
        issues.push({
          path: ["vector"],
          message: `output "${name}" appears twice (at row positions ${first} and ${index}): names must be unique`,
        });
      }
      index += 1;
    }
  }
  if (issues.length > before) return undefined;
  const names = features.flatMap((definition) => definition.outputs);
  return {
    entityKey: raw.entity_key,
    eventTime: raw.event_time,
    features,
    names,
    width: names.length,
  };
}
