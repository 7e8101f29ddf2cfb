/**
 * Turns a micro-batch of decoded events into FP32 feature rows, one outcome per event in input
 * order. Per batch: validate every event (an invalid one gets its error and never reaches the
 * store), run hooks, then ONE store call that records the valid events and answers their
 * windows, previous-event times and uncached lookups, then fill the rows.
 */
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { ConsumerError } from "../errors.js";
import { FieldPath, readEntity, readEventTime, type EventObject } from "./event-fields.js";
import { loadHook, runHook, type FeatureHook } from "./feature-hooks.js";
import { compileSpec, readSlots, type EventState, type FeatureProgram } from "./feature-program.js";
import type { FeatureSpec } from "./feature-definition.js";
import type { FeatureStore, StoreEvent, StoreResponse } from "../ports/feature-store.js";
import { LookupBatch, LookupCache, type LookupCacheOptions } from "./lookup-cache.js";
import { describeValue } from "@sluice/kit";

/** A decoded Kafka message. */
export interface FeatureEvent {
  /** The parsed JSON value. */
  readonly value: unknown;
  readonly key: string | null;
  readonly topic: string;
  readonly partition: number;
  /** Kafka offset, decimal. */
  readonly offset: string;
}

export type FeatureOutcome =
  | {
      readonly ok: true;
      /** `width` floats in `names` order. */
      readonly row: Float32Array;
      /** Epoch milliseconds. */
      readonly eventTime: number;
      readonly entity: string;
      /** The features whose lookup found no record or field; absent when none missed. */
      readonly lookupMisses?: readonly string[];
    }
  | {
      readonly ok: false;
      readonly error: ConsumerError;
      /** As above: a `missing: dlq` lookup that missed is why the event failed. */
      readonly lookupMisses?: readonly string[];
    };

export interface FeatureExtractorOptions {
  /** Folder that relative hook module paths start from (the pipeline file's folder). @default process.cwd() */
  readonly baseDir?: string;
  /** A shared cache, or options for the extractor's own. @default 100k entries */
  readonly lookupCache?: LookupCache | LookupCacheOptions;
}

const OFFSET_RE = /^\d{1,16}$/;
/** Shared by every event of a spec without lookups or hooks: nothing writes into them. */
const NONE_STRINGS: readonly string[] = Object.freeze([]);
const NONE_NUMBERS: readonly number[] = Object.freeze([]);
const NO_HOOK_VALUES: readonly Float64Array[] = Object.freeze([]);

// A no-op until an SDK is registered; the global tracer is a proxy, so taking it now is fine.
const tracer = trace.getTracer("@sluice/consumer");

/** An event that passed validation, with everything read from it. */
interface Accepted {
  readonly index: number;
  readonly event: FeatureEvent;
  readonly value: EventObject;
  readonly entity: string;
  readonly eventTime: number;
  readonly slots: (number | string)[];
  /** By lookup index: the rendered key and its handle in this batch's LookupBatch. */
  readonly lookupKeys: readonly string[];
  readonly lookupHandles: readonly number[];
  hookValues: readonly Float64Array[];
}

/**
 * One message per field: a field read for several features (the entity id, also a lookup key
 * placeholder) would otherwise be reported once per use.
 */
function onePerField(messages: readonly string[]): string[] {
  const fields = new Set<string>();
  return messages.filter((message) => {
    const field = message.slice(0, message.indexOf(":"));
    if (fields.has(field)) return false;
    fields.add(field);
    return true;
  });
}

function invalid(message: string): FeatureOutcome {
  return { ok: false, error: new ConsumerError("invalid_event", message, { retryable: false }) };
}

export class FeatureExtractor {
  /** The row length; check it against the model's input shape at start. */
  readonly width: number;
  /** Output names in row order. */
  readonly names: readonly string[];
  readonly #program: FeatureProgram;
  readonly #store: FeatureStore;
  /** The errors of the event being read (`#accept`), emptied for each. */
  readonly #errors: string[] = [];
  readonly #entity: FieldPath;
  readonly #time: FieldPath;
  readonly #cache: LookupCache;
  readonly #baseDir: string;
  #hooks: Promise<FeatureHook[]> | undefined;

  constructor(spec: FeatureSpec, store: FeatureStore, options: FeatureExtractorOptions = {}) {
    this.#program = compileSpec(spec);
    this.#store = store;
    this.#entity = new FieldPath(spec.entityKey);
    this.#time = new FieldPath(spec.eventTime);
    this.width = spec.width;
    this.names = spec.names;
    this.#cache =
      options.lookupCache instanceof LookupCache
        ? options.lookupCache
        : new LookupCache(options.lookupCache);
    this.#baseDir = options.baseDir ?? process.cwd();
  }

  /** Loads hook modules; `compute` does it on first use, call this at start to fail fast. */
  ready(): Promise<void> {
    return this.#loadHooks().then(() => undefined);
  }

  /**
   * One outcome per event, in input order. Rejects (with a retryable ConsumerError) only when the
   * whole batch must be retried: the store failed, or a hook threw a retryable error.
   */
  compute(events: readonly FeatureEvent[]): Promise<FeatureOutcome[]> {
    // One span per micro-batch, the store's round trip inside it: tracing off, it is one
    // non-recording object per batch.
    return tracer.startActiveSpan(
      "sluice.features",
      { attributes: { "sluice.features.events": events.length } },
      async (span) => {
        try {
          const outcomes = await this.#compute(events);
          if (span.isRecording()) {
            const rejected = outcomes.reduce((n, outcome) => (outcome.ok ? n : n + 1), 0);
            span.setAttribute("sluice.features.rejected", rejected);
          }
          return outcomes;
        } catch (error) {
          const failure = ConsumerError.from(error);
          span.recordException(failure);
          span.setAttribute("error.type", failure.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  async #compute(events: readonly FeatureEvent[]): Promise<FeatureOutcome[]> {
    const hooks = await this.#loadHooks();
    const outcomes: FeatureOutcome[] = new Array<FeatureOutcome>(events.length);
    const lookups = new LookupBatch(this.#cache);
    let accepted: Accepted[] = [];
    for (let index = 0; index < events.length; index++) {
      const result = this.#accept(events[index]!, index, lookups);
      if ("ok" in result) outcomes[index] = result;
      else accepted.push(result);
    }
    if (hooks.length > 0) accepted = await this.#runHooks(hooks, accepted, outcomes);

    const response = await this.#callStore(accepted, lookups);
    const compiled = this.#program.lookups;
    const lookupValues = compiled.map(() => null as string | null);
    const windows = this.#program.plan.windows.length;
    const width = this.width;
    // One buffer for the batch's rows, each event's row a view of it: a Float32Array of its own
    // per event is an off-heap allocation the garbage collector has to track.
    const rows = new Float32Array(accepted.length * width);
    // One state, refilled per event: the writers read it synchronously and keep nothing of it.
    const state: { -readonly [K in keyof EventState]: EventState[K] } = {
      slots: [],
      eventTime: 0,
      windowValues: response.windowValues,
      windowBase: 0,
      previousEventTime: undefined,
      lookupKeys: [],
      lookupValues,
      hookValues: [],
    };
    const writers = this.#program.writers;
    for (let i = 0; i < accepted.length; i++) {
      const item = accepted[i]!;
      let misses: string[] | undefined;
      const handles = item.lookupHandles;
      for (let l = 0; l < handles.length; l++) {
        const value = lookups.value(handles[l]!) ?? null;
        lookupValues[l] = value;
        if (value === null) (misses ??= []).push(...compiled[l]!.features);
      }
      state.slots = item.slots;
      state.eventTime = item.eventTime;
      state.windowBase = i * windows;
      state.previousEventTime = response.previousEventTimes[i];
      state.lookupKeys = item.lookupKeys;
      state.hookValues = item.hookValues;
      const row = rows.subarray(i * width, (i + 1) * width);
      try {
        for (let w = 0; w < writers.length; w++) writers[w]!(state, row);
        outcomes[item.index] =
          misses === undefined
            ? { ok: true, row, eventTime: item.eventTime, entity: item.entity }
            : {
                ok: true,
                row,
                eventTime: item.eventTime,
                entity: item.entity,
                lookupMisses: misses,
              };
      } catch (error) {
        // A feature that cannot be computed fails its event; anything else is a bug.
        if (!ConsumerError.is(error, "feature_error")) throw error;
        outcomes[item.index] =
          misses === undefined ? { ok: false, error } : { ok: false, error, lookupMisses: misses };
      }
    }
    return outcomes;
  }

  /** Reads everything the features need from one event, or says everything wrong with it. */
  #accept(event: FeatureEvent, index: number, lookups: LookupBatch): Accepted | FeatureOutcome {
    if (
      !Number.isSafeInteger(event.partition) ||
      event.partition < 0 ||
      !OFFSET_RE.test(event.offset)
    ) {
      return {
        ok: false,
        error: new ConsumerError(
          "internal",
          `event position: expected a partition ≥ 0 and a decimal offset, got partition ${event.partition}, offset ${describeValue(event.offset)}`,
        ),
      };
    }
    const value = event.value;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return invalid(`event: expected a JSON object, got ${describeValue(value)}`);
    }
    const object = value as EventObject;
    // One list for every event's errors: an event without any (nearly all) allocates none.
    const errors = this.#errors;
    errors.length = 0;
    const entity = readEntity(object, this.#entity, errors);
    const eventTime = readEventTime(object, this.#time, errors);
    const slots = readSlots(this.#program, object, errors);
    if (entity === undefined || eventTime === undefined || errors.length > 0) {
      return invalid(onePerField(errors).join("; "));
    }
    const compiled = this.#program.lookups;
    let lookupKeys: readonly string[] = NONE_STRINGS;
    let lookupHandles: readonly number[] = NONE_NUMBERS;
    if (compiled.length > 0) {
      const keys = new Array<string>(compiled.length);
      const handles = new Array<number>(compiled.length);
      for (let l = 0; l < compiled.length; l++) {
        const lookup = compiled[l]!;
        // Placeholders were read as slots above, so rendering cannot fail here.
        const key = lookup.template.render(object, errors) ?? "";
        keys[l] = key;
        handles[l] = lookups.need(key, lookup.field, lookup.ttlMs);
      }
      lookupKeys = keys;
      lookupHandles = handles;
    }
    return {
      index,
      event,
      value: object,
      entity,
      eventTime,
      slots,
      lookupKeys,
      lookupHandles,
      hookValues: NO_HOOK_VALUES,
    };
  }

  async #runHooks(
    hooks: readonly FeatureHook[],
    accepted: readonly Accepted[],
    outcomes: FeatureOutcome[],
  ): Promise<Accepted[]> {
    const sources = this.#program.hooks;
    const results = await Promise.all(
      accepted.map(async (item) => {
        const event = {
          value: item.value,
          key: item.event.key,
          topic: item.event.topic,
          partition: item.event.partition,
          offset: item.event.offset,
          entity: item.entity,
          eventTime: item.eventTime,
        };
        try {
          item.hookValues = await Promise.all(
            hooks.map((hook, h) => runHook(hook, sources[h]!, event)),
          );
          return true;
        } catch (error) {
          const failure = ConsumerError.from(error, "feature_error");
          if (failure.retryable) throw failure;
          outcomes[item.index] = { ok: false, error: failure };
          return false;
        }
      }),
    );
    return accepted.filter((_, i) => results[i]);
  }

  async #callStore(accepted: readonly Accepted[], lookups: LookupBatch): Promise<StoreResponse> {
    const program = this.#program;
    const events: StoreEvent[] = program.stateful
      ? accepted.map((item) => ({
          entity: item.entity,
          eventTime: item.eventTime,
          partition: item.event.partition,
          offset: item.event.offset,
          values: program.trackedSlots.map((slot) => item.slots[slot]!),
        }))
      : [];
    const misses = lookups.misses;
    if (events.length === 0 && misses.length === 0) {
      return { windowValues: new Float64Array(0), previousEventTimes: [], lookups: [] };
    }
    let response: StoreResponse;
    try {
      response = await this.#store.apply({ plan: program.plan, events, lookups: misses });
    } catch (error) {
      // A store that throws something else is still a store failure: retry, never guess.
      throw error instanceof ConsumerError
        ? error
        : new ConsumerError("store_unavailable", `feature store failed: ${String(error)}`, {
            cause: error,
            retryable: true,
          });
    }
    lookups.fill(response.lookups);
    return response;
  }

  #loadHooks(): Promise<FeatureHook[]> {
    this.#hooks ??= Promise.all(
      this.#program.hooks.map((source) => loadHook(source, this.#baseDir)),
    );
    return this.#hooks;
  }
}
