/**
 * Compiles a FeatureSpec once into what a batch needs: the event fields to read (each read once
 * per event however many features use it), the state plan for the store (windows deduplicated),
 * the lookups and hooks, and one writer per feature that fills its slice of the row.
 */
import type { EventObject } from "./event-fields.js";
import { FieldPath, KeyTemplate, readBoolean, readNumber, readString } from "./event-fields.js";
import type {
  FeatureSpec,
  FieldType,
  HookSource,
  LookupSource,
  OperandSource,
  Scalar,
  Source,
  Transform,
  WindowSource,
} from "./feature-definition.js";
import type { StatePlan, WindowQuery } from "../ports/feature-store.js";
import { describeValue } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import {
  applyScalar,
  writeEncoding,
  writeTimeFeature,
  hourOfDay,
  dayOfWeek,
} from "./transforms.js";

/** An event field read and type-checked once per event. */
export interface Slot {
  readonly path: FieldPath;
  readonly type: FieldType;
  readonly default: Scalar | undefined;
}

export interface CompiledLookup {
  readonly template: KeyTemplate;
  readonly field: string;
  readonly ttlMs: number;
  /** The features that read it: a miss is counted for each. */
  readonly features: readonly string[];
}

/**
 * A feature whose lookup missed under `missing: null`: it skips compare and transforms, and
 * every output of the feature is written as `value`.
 */
export class NullValue {
  constructor(readonly value: number) {}
}

/** Everything one event's row is computed from. */
export interface EventState {
  /** Slot values by slot index: numbers (booleans as 0/1) or strings. */
  readonly slots: readonly (number | string)[];
  readonly eventTime: number;
  /** The store's window answers; this event's start at `windowBase`. */
  readonly windowValues: Float64Array;
  readonly windowBase: number;
  readonly previousEventTime: number | undefined;
  /** By lookup index: the rendered key (`user:42`), for messages. */
  readonly lookupKeys: readonly string[];
  /** By lookup index: the value, or null when the record or field does not exist. */
  readonly lookupValues: readonly (string | null)[];
  /** By hook index: the hook's outputs in spec order. */
  readonly hookValues: readonly Float64Array[];
}

/**
 * A feature that cannot be computed for an event; the message names the feature. The event goes
 * to the dead-letter topic; the rest of its micro-batch goes on.
 */
function featureFailure(message: string): ConsumerError {
  return new ConsumerError("feature_error", message, { retryable: false });
}

type Writer = (state: EventState, row: Float32Array) => void;
type Evaluate = (state: EventState) => number | string | NullValue;

export interface FeatureProgram {
  readonly slots: readonly Slot[];
  /** Slot index of each tracked value, in `plan.trackedFields` order. */
  readonly trackedSlots: readonly number[];
  readonly plan: StatePlan;
  /** Whether events must go to the store at all (any window or since_previous). */
  readonly stateful: boolean;
  readonly lookups: readonly CompiledLookup[];
  readonly hooks: readonly HookSource[];
  readonly writers: readonly Writer[];
}

/** Reads every slot of an event; a missing or mistyped field pushes a message instead. */
export function readSlots(
  program: FeatureProgram,
  event: EventObject,
  errors: string[],
): (number | string)[] {
  return program.slots.map((slot) => {
    const fallback = slot.default;
    const value =
      slot.type === "number"
        ? readNumber(event, slot.path, fallback as number | undefined, errors)
        : slot.type === "string"
          ? readString(event, slot.path, fallback as string | undefined, errors)
          : readBoolean(event, slot.path, fallback as boolean | undefined, errors);
    return value ?? Number.NaN;
  });
}

/** `what` says how the value came about, for the message: `log of 0`, `ratio 5 / 0`. */
function finite(name: string, what: string, value: number): number {
  if (Number.isFinite(value)) return value;
  throw featureFailure(`feature "${name}": ${what} gives ${value}, not a finite number`);
}

class Compiler {
  readonly slots: Slot[] = [];
  readonly #slotIds = new Map<string, number>();
  readonly trackedSlots: number[] = [];
  readonly trackedFields: string[] = [];
  readonly #trackedIds = new Map<string, number>();
  readonly windows: WindowQuery[] = [];
  readonly #windowIds = new Map<string, number>();
  readonly lookups: CompiledLookup[] = [];
  readonly #lookupIds = new Map<string, number>();
  readonly hooks: HookSource[] = [];
  sincePrevious = false;
  previousHorizonMs = 0;

  slot(path: string, type: FieldType, fallback: Scalar | undefined): number {
    const id = `${type}|${path}|${JSON.stringify(fallback)}`;
    let index = this.#slotIds.get(id);
    if (index === undefined) {
      index = this.slots.push({ path: new FieldPath(path), type, default: fallback }) - 1;
      this.#slotIds.set(id, index);
    }
    return index;
  }

  window(source: WindowSource): number {
    let field: number | undefined;
    if (source.field !== undefined) {
      const type: FieldType = source.aggregation === "distinct_count" ? "string" : "number";
      const slot = this.slot(source.field, type, source.default);
      const id = String(slot);
      field = this.#trackedIds.get(id);
      if (field === undefined) {
        field = this.trackedSlots.push(slot) - 1;
        this.trackedFields.push(`${type}:${source.field}:${JSON.stringify(source.default)}`);
        this.#trackedIds.set(id, field);
      }
    }
    const id = `${source.aggregation}|${field}|${source.overMs}`;
    let index = this.#windowIds.get(id);
    if (index === undefined) {
      index =
        this.windows.push({ aggregation: source.aggregation, field, overMs: source.overMs }) - 1;
      this.#windowIds.set(id, index);
    }
    return index;
  }

  lookup(name: string, source: LookupSource): number {
    const id = `${source.key}|${source.field}`;
    let index = this.#lookupIds.get(id);
    if (index === undefined) {
      index =
        this.lookups.push({
          template: new KeyTemplate(source.key),
          field: source.field,
          ttlMs: source.cacheTtlMs,
          features: [name],
        }) - 1;
      this.#lookupIds.set(id, index);
    } else {
      const known = this.lookups[index]!;
      this.lookups[index] = {
        ...known,
        ttlMs: Math.min(known.ttlMs, source.cacheTtlMs),
        features: known.features.includes(name) ? known.features : [...known.features, name],
      };
    }
    // Reading the placeholders as slots makes an event missing them invalid before any I/O.
    for (const match of source.key.matchAll(/\{([^{}]*)\}/g))
      this.slot(match[1] ?? "", "string", undefined);
    return index;
  }

  operand(name: string, source: OperandSource, transforms: readonly Transform[]): Evaluate {
    const base = this.source(name, source);
    if (transforms.length === 0) return base;
    return (state) => {
      let value = base(state);
      if (value instanceof NullValue) return value;
      for (const transform of transforms) {
        value = finite(
          name,
          `${transform.kind} of ${describeValue(value)}`,
          applyScalar(transform, value as number),
        );
      }
      return value;
    };
  }

  source(name: string, source: Exclude<Source, { kind: "hook" }>): Evaluate {
    switch (source.kind) {
      case "field": {
        const slot = this.slot(source.path, source.type, source.default);
        return (state) => state.slots[slot]!;
      }
      case "window": {
        const window = this.window(source);
        return (state) => state.windowValues[state.windowBase + window]!;
      }
      case "since_previous": {
        this.sincePrevious = true;
        this.previousHorizonMs = Math.max(this.previousHorizonMs, source.capSeconds * 1000);
        const { capSeconds, defaultSeconds } = source;
        return (state) => {
          if (state.previousEventTime === undefined) return defaultSeconds;
          // An out-of-order event may follow a later one in the stream: no negative gaps.
          const gap = (state.eventTime - state.previousEventTime) / 1000;
          return Math.min(Math.max(gap, 0), capSeconds);
        };
      }
      case "time": {
        const of = source.part === "hour_of_day" ? hourOfDay : dayOfWeek;
        return (state) => of(state.eventTime);
      }
      case "lookup":
        return this.lookupSource(name, source);
      case "ratio": {
        const numerator = this.operand(name, source.numerator.source, source.numerator.transforms);
        const denominator = this.operand(
          name,
          source.denominator.source,
          source.denominator.transforms,
        );
        const floor = source.minDenominator;
        return (state) => {
          const n = numerator(state);
          if (n instanceof NullValue) return n;
          const d = denominator(state);
          if (d instanceof NullValue) return d;
          const over = Math.max(d as number, floor);
          return finite(name, `ratio ${n} / ${over}`, (n as number) / over);
        };
      }
    }
  }

  lookupSource(name: string, source: LookupSource): Evaluate {
    const lookup = this.lookup(name, source);
    const compare = source.compare;
    const missing = source.missing;
    // One object per feature, not per miss.
    const unknown = missing.policy === "null" ? new NullValue(missing.value) : undefined;
    const resolve = (state: EventState): string | number | NullValue => {
      const value = state.lookupValues[lookup];
      if (value === null || value === undefined) {
        if (missing.policy === "default") return missing.value;
        if (unknown !== undefined) return unknown;
        throw featureFailure(
          `feature "${name}": ${state.lookupKeys[lookup]} → ${source.field}: not found (missing: dlq)`,
        );
      }
      if (source.type === "string") return value;
      const number = Number(value);
      if (value.trim() === "" || !Number.isFinite(number)) {
        throw featureFailure(
          `feature "${name}": ${state.lookupKeys[lookup]} → ${source.field}: expected a number, got ${describeValue(value)}`,
        );
      }
      return number;
    };
    if (compare === undefined) return resolve;
    const slot = this.slot(compare.field, "string", compare.default);
    const equal = compare.op === "equals" ? 1 : 0;
    return (state) => {
      const value = resolve(state);
      if (value instanceof NullValue) return value;
      return String(value) === state.slots[slot] ? equal : 1 - equal;
    };
  }

  writer(definition: FeatureSpec["features"][number], offset: number): Writer {
    const { name, source, transforms } = definition;
    if (source.kind === "hook") {
      let hook = this.hooks.findIndex(
        (known) => known.module === source.module && known.exportName === source.exportName,
      );
      if (hook < 0) hook = this.hooks.push(source) - 1;
      return (state, row) => row.set(state.hookValues[hook]!, offset);
    }
    if (source.kind === "time" && source.encoding === "cyclic") {
      const { part, encoding } = source;
      return (state, row) => writeTimeFeature(part, encoding, state.eventTime, row, offset);
    }
    const last = transforms.at(-1);
    const encoding =
      last !== undefined &&
      (last.kind === "bucketize" || last.kind === "one_hot" || last.kind === "hash_buckets")
        ? last
        : undefined;
    const evaluate = this.source(name, source);
    const scalars = encoding === undefined ? transforms : transforms.slice(0, -1);
    const width = definition.outputs.length;
    return (state, row) => {
      let value = evaluate(state);
      if (value instanceof NullValue) {
        row.fill(value.value, offset, offset + width);
        return;
      }
      if (encoding !== undefined) {
        if (typeof value === "number") {
          for (const transform of scalars) {
            value = finite(name, `${transform.kind} of ${value}`, applyScalar(transform, value));
          }
        }
        writeEncoding(encoding, value, row, offset);
        return;
      }
      let number = value as number;
      for (const transform of scalars) {
        number = finite(name, `${transform.kind} of ${number}`, applyScalar(transform, number));
      }
      // Finite in float64 may still overflow FP32 (above ~3.4e38): the model would see Infinity.
      if (!Number.isFinite(Math.fround(number))) {
        throw featureFailure(`feature "${name}": ${number} does not fit in an FP32 number`);
      }
      row[offset] = number;
    };
  }
}

/** Compiles the spec; the result is immutable and shared by every batch. */
export function compileSpec(spec: FeatureSpec): FeatureProgram {
  const compiler = new Compiler();
  const writers: Writer[] = [];
  let offset = 0;
  for (const definition of spec.features) {
    writers.push(compiler.writer(definition, offset));
    offset += definition.outputs.length;
  }
  const windowHorizonMs = compiler.windows.reduce((max, w) => Math.max(max, w.overMs), 0);
  return {
    slots: compiler.slots,
    trackedSlots: compiler.trackedSlots,
    plan: {
      windows: compiler.windows,
      trackedFields: compiler.trackedFields,
      sincePrevious: compiler.sincePrevious,
      windowHorizonMs,
      previousHorizonMs: compiler.previousHorizonMs,
    },
    stateful: compiler.windows.length > 0 || compiler.sincePrevious,
    lookups: compiler.lookups,
    hooks: compiler.hooks,
    writers,
  };
}

/** What `spec` asks a feature store to record and answer (e.g. to read the state it wrote). */
export function statePlan(spec: FeatureSpec): StatePlan {
  return compileSpec(spec).plan;
}
