/**
 * The recent history the status page charts: every few seconds the consumer's own metrics
 * registry is read and each pipeline's interval becomes one `StatusSample`, kept in a bounded ring,
 * so the page shows figures over time as soon as it opens (no Prometheus needed). `toJSON()` is
 * what `GET /status.json` answers.
 */
import { errorMessage } from "@sluice/kit";
import { MetricsReading, type MetricsRegistry } from "./metrics-reading.js";
import {
  STATUS_METRICS,
  pipelineNow,
  statusSample,
  type PipelineNow,
  type StatusSample,
} from "./pipeline-status.js";

/** Often enough for a live chart, rarely enough that reading the registry costs nothing. @default 2000 */
export const DEFAULT_STATUS_INTERVAL_MS = 2_000;
/** Ten minutes at the default interval: what a glance at a dashboard covers. @default 300 */
export const DEFAULT_STATUS_CAPACITY = 300;

export interface StatusHistoryOptions {
  /** Milliseconds between samples. @default 2000 */
  readonly intervalMs?: number;
  /** Samples kept per pipeline; the oldest goes first. @default 300 */
  readonly capacity?: number;
  /** The clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/** A fixed-size ring: `push` drops the oldest item once full. */
export class Ring<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  #start = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`ring capacity: expected a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return;
    }
    this.#items[this.#start] = item;
    this.#start = (this.#start + 1) % this.capacity;
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.#items.slice(this.#start), ...this.#items.slice(0, this.#start)];
  }
}

/** `GET /status.json`. */
export interface StatusDocument {
  readonly intervalSeconds: number;
  readonly capacity: number;
  /** When the registry was last read (ms since the epoch); null before the first reading. */
  readonly sampledAt: number | null;
  /** Why the last reading failed; null when it succeeded. */
  readonly error: string | null;
  readonly pipelines: readonly {
    readonly name: string;
    readonly samples: readonly StatusSample[];
    readonly now: PipelineNow;
  }[];
}

export class StatusHistory {
  readonly intervalMs: number;
  readonly capacity: number;
  readonly #registry: MetricsRegistry;
  readonly #now: () => number;
  readonly #rings = new Map<string, Ring<StatusSample>>();
  #latest: { reading: MetricsReading; time: number } | undefined;
  #error: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> | undefined;

  constructor(registry: MetricsRegistry, options: StatusHistoryOptions = {}) {
    this.#registry = registry;
    this.intervalMs = options.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    this.capacity = options.capacity ?? DEFAULT_STATUS_CAPACITY;
    this.#now = options.now ?? Date.now;
    if (!(this.intervalMs > 0)) {
      throw new RangeError(
        `status interval: expected a positive number of ms, got ${this.intervalMs}`,
      );
    }
    new Ring(this.capacity); // validates the capacity now, not at the first pipeline
  }

  /** Samples now and every `intervalMs` until `stop()`; the timer does not keep the process up. */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Reads the registry once and appends each pipeline's sample. Never rejects: a failed reading
   * is kept as `error` for the page to show, and the next one tries again.
   */
  sample(): Promise<void> {
    // Two readings at once would share one interval; the second waits for the first.
    this.#sampling = (this.#sampling ?? Promise.resolve()).then(() => this.#read());
    return this.#sampling;
  }

  async #read(): Promise<void> {
    let reading: MetricsReading;
    try {
      reading = await MetricsReading.of(this.#registry);
    } catch (error) {
      this.#error = `reading the metrics failed: ${errorMessage(error)}`;
      return;
    }
    this.#error = null;
    const time = this.#now();
    const previous = this.#latest;
    const seconds = previous === undefined ? 0 : (time - previous.time) / 1000;
    for (const name of reading.labelValues("pipeline", STATUS_METRICS)) {
      let ring = this.#rings.get(name);
      if (ring === undefined) this.#rings.set(name, (ring = new Ring(this.capacity)));
      ring.push(statusSample(name, reading, previous?.reading, seconds, time));
    }
    this.#latest = { reading, time };
  }

  toJSON(): StatusDocument {
    const latest = this.#latest;
    return {
      intervalSeconds: this.intervalMs / 1000,
      capacity: this.capacity,
      sampledAt: latest?.time ?? null,
      error: this.#error,
      pipelines: [...this.#rings].map(([name, ring]) => ({
        name,
        samples: ring.toArray(),
        now: pipelineNow(name, latest!.reading),
      })),
    };
  }
}
