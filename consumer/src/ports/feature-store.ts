/**
 * The port between the feature extractor and whatever keeps per-entity state. The extractor
 * knows only this interface; `adapters/redis-feature-store.ts` implements it (state in consumer
 * memory, Redis as its durable copy), and another store (a local RocksDB, Aerospike, an in-memory
 * map for tests) would be one more file.
 *
 * The contract every implementation must keep:
 * - one call records a whole micro-batch and answers every query of it, so the latency a batch
 *   pays does not grow with its size;
 * - recording is idempotent: an event is identified by (partition, offset), and recording it
 *   again (a replay after a crash) changes nothing and yields the same answers as the first time;
 * - an event's windows hold the entity's events with event time in (t − W, t] that came before
 *   it in the stream (same partition, lower offset), plus itself, wherever they sit in the batch;
 *   state is the partition's: the input topic is keyed by the entity, so one partition holds all
 *   of an entity's events, and the member that owns it is the only writer of that state;
 * - when `apply` resolves, what it recorded is durable: the batch's offsets may be committed;
 * - calls for one partition are answered in call order, each seeing what the one before recorded;
 * - failures reject with a retryable `store_unavailable` ConsumerError, never with partial answers.
 */
import type { WindowAggregation } from "../features/feature-definition.js";

export interface WindowQuery {
  readonly aggregation: WindowAggregation;
  /** Index into `StatePlan.trackedFields` of the aggregated value; undefined for `count`. */
  readonly field: number | undefined;
  readonly overMs: number;
}

/** What the store must record per event and compute per event; fixed for an extractor's life. */
export interface StatePlan {
  readonly windows: readonly WindowQuery[];
  /**
   * Names of the values each event records for the windows, in `StoreEvent.values` order. A store
   * may use them to version its layout: a plan recording other values must not read old state.
   */
  readonly trackedFields: readonly string[];
  /** Whether to answer the event time of the entity's previous event in the stream. */
  readonly sincePrevious: boolean;
  /** Events older than this (relative to the entity's newest) no longer affect any window. */
  readonly windowHorizonMs: number;
  /** Previous-event times older than this no longer matter (the largest since_previous cap). */
  readonly previousHorizonMs: number;
}

export interface StoreEvent {
  readonly entity: string;
  /** Epoch milliseconds. */
  readonly eventTime: number;
  readonly partition: number;
  /** Kafka offset, decimal. */
  readonly offset: string;
  /** Numbers for sum/mean/min/max, strings for distinct_count; one per tracked field. */
  readonly values: readonly (number | string)[];
}

/** A field of a Redis-hash-like record, e.g. `home_country` of `user:42`. */
export interface LookupRequest {
  readonly key: string;
  readonly field: string;
}

export interface StoreRequest {
  readonly plan: StatePlan;
  readonly events: readonly StoreEvent[];
  readonly lookups: readonly LookupRequest[];
}

export interface StoreResponse {
  /** `events.length × plan.windows.length` values, event-major: event i, window w at `i * windows + w`. */
  readonly windowValues: Float64Array;
  /**
   * Per event, the event time of the entity's previous event in the stream (undefined when none is
   * known); empty when the plan does not ask for it.
   */
  readonly previousEventTimes: readonly (number | undefined)[];
  /** Per lookup, in request order: the value, or null when the record or field does not exist. */
  readonly lookups: readonly (string | null)[];
}

export interface FeatureStore {
  /**
   * Records the events and answers the plan's queries and the lookups: one round trip, and one
   * more before it for state the store must first load.
   */
  apply(request: StoreRequest): Promise<StoreResponse>;
  /**
   * The input partitions this member owns since the latest rebalance. A store that holds state in
   * memory drops that of every other partition: its new owner writes it from now on.
   */
  assigned?(partitions: readonly number[]): void;
  /** What a store that holds state in memory holds now: entities and their estimated bytes. */
  held?(): { readonly entities: number; readonly bytes: number };
  /** Releases connections the store owns. */
  close(): Promise<void>;
}
