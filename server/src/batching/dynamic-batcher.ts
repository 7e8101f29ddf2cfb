import { BatcherError } from "./batcher-error.js";

/** How one model version batches its requests. Resolve a partial config with `resolveBatcherOptions`. */
export interface BatcherOptions {
  /** Most rows in one execution. 0 = the model has no batch dimension: every request runs alone. */
  maxBatchSize: number;
  /** How long the oldest queued request may wait for a fuller batch. @default 0 (dispatch at once) */
  maxQueueDelayMicros: number;
  /** Batch sizes (rows) dispatched as soon as they are reached. @default [] */
  preferredBatchSizes: readonly number[];
  /** Most requests waiting (not running); beyond it submit rejects with reason "queue_full". 0 = unbounded. @default 0 */
  maxQueueSize: number;
  /** Executions that may run at the same time (model instances). @default 1 */
  instanceCount: number;
  /** Number of priority levels; 1 is the highest priority, priorityLevels the lowest. 0 = priorities off. @default 0 */
  priorityLevels: number;
  /** Level for items that name none. @default priorityLevels (the lowest), 0 when priorities are off */
  defaultPriorityLevel: number;
  /** Name used in error messages, e.g. `model "fraud" version 2`. @default "model" */
  label: string;
}

// The defaults of a batcher built from a partial config (tests, other embedders). A served version
// passes every option from its model config instead, whose own defaults (repository/model-config.ts)
// are what a user gets: there the queue is bounded, DEFAULT_MAX_QUEUE_SIZE = 4096 requests.

/** Dispatch at once: Triton's default, and the lowest latency when traffic is too thin to batch. */
export const DEFAULT_BATCHER_MAX_QUEUE_DELAY_MICROS = 0;
/** No preferred sizes: on CPU any batch up to maxBatchSize is as good as another. */
export const DEFAULT_BATCHER_PREFERRED_BATCH_SIZES: readonly number[] = Object.freeze([]);
/** Unbounded like Triton's batcher; set a limit to shed load early instead of letting latency grow. */
export const DEFAULT_BATCHER_MAX_QUEUE_SIZE = 0;
/** One execution at a time: onnxruntime already spreads one run over every core, a second one mostly contends. */
export const DEFAULT_BATCHER_INSTANCE_COUNT = 1;
/** Priorities off: a single FIFO, the cheapest queue. */
export const DEFAULT_BATCHER_PRIORITY_LEVELS = 0;
/** Only used in messages when the caller names nothing better. */
export const DEFAULT_BATCHER_LABEL = "model";
/** setTimeout's limit (2^31-1 ms): a longer delay would fire at once. */
const MAX_QUEUE_DELAY_MICROS = 2_147_483_647_000;

/**
 * Validates a partial config and fills the defaults above; throws a RangeError naming the field.
 * `defaultPriorityLevel` defaults to the lowest level so that requests naming no priority never
 * overtake requests that asked for one.
 */
export function resolveBatcherOptions(
  partial: Partial<BatcherOptions> & { maxBatchSize: number },
): BatcherOptions {
  const label = partial.label ?? DEFAULT_BATCHER_LABEL;
  const int = (field: string, value: unknown, min: number, max = Infinity): number => {
    if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) {
      return value;
    }
    const range = max === Infinity ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new RangeError(
      `batcher option ${field} for ${label}: expected ${range}, got ${show(value)}`,
    );
  };
  if (label === "") {
    throw new RangeError(`batcher option label: expected a non-empty string, got ${show(label)}`);
  }
  const maxBatchSize = int("maxBatchSize", partial.maxBatchSize, 0);
  const preferred = partial.preferredBatchSizes ?? DEFAULT_BATCHER_PREFERRED_BATCH_SIZES;
  if (maxBatchSize === 0 && preferred.length > 0) {
    const got = `[${preferred.join(", ")}]`;
    throw new RangeError(
      `batcher option preferredBatchSizes for ${label}: expected none when maxBatchSize is 0 (no batch dimension), got ${got}`,
    );
  }
  const sizes = preferred.map((size, i) => int(`preferredBatchSizes[${i}]`, size, 1, maxBatchSize));
  const levels = int(
    "priorityLevels",
    partial.priorityLevels ?? DEFAULT_BATCHER_PRIORITY_LEVELS,
    0,
  );
  const defaultLevel = partial.defaultPriorityLevel ?? levels;
  const delay = partial.maxQueueDelayMicros ?? DEFAULT_BATCHER_MAX_QUEUE_DELAY_MICROS;
  return {
    maxBatchSize,
    maxQueueDelayMicros: int("maxQueueDelayMicros", delay, 0, MAX_QUEUE_DELAY_MICROS),
    preferredBatchSizes: Object.freeze([...new Set(sizes)].sort((a, b) => a - b)),
    maxQueueSize: int("maxQueueSize", partial.maxQueueSize ?? DEFAULT_BATCHER_MAX_QUEUE_SIZE, 0),
    instanceCount: int("instanceCount", partial.instanceCount ?? DEFAULT_BATCHER_INSTANCE_COUNT, 1),
    priorityLevels: levels,
    defaultPriorityLevel: int("defaultPriorityLevel", defaultLevel, Math.min(levels, 1), levels),
    label,
  };
}

export interface BatchItem<T> {
  payload: T;
  /** Rows this request adds along the batch dimension (≥1; for maxBatchSize 0 always 1). */
  rows: number;
  /** 1..priorityLevels; undefined, 0 or out of range → defaultPriorityLevel (as Triton does). */
  priority?: number;
  /** Absolute time in performance.now() milliseconds; past it the item is dropped before it runs. */
  deadline?: number;
  /** Aborted (e.g. the gRPC call was cancelled) → removed from the queue, rejected "cancelled". */
  signal?: AbortSignal;
}

export interface QueuedItem<T> extends BatchItem<T> {
  /** performance.now() when the item was queued. */
  readonly enqueuedAt: number;
}

/** Runs one batch; returns one result per item, in order. A rejection fails every item of the batch with that error. */
export type BatchExecutor<T, R> = (
  items: readonly QueuedItem<T>[],
  batch: { rows: number; dispatchedAt: number },
) => Promise<R[]>;

type EntryState = "queued" | "running" | "done";

interface Entry<T, R> {
  readonly item: QueuedItem<T>;
  state: EntryState;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
  onAbort: (() => void) | undefined;
}

/** Dropping the consumed prefix costs O(remaining); doing it only past half the array keeps shifts O(1) amortized. */
const COMPACT_AFTER = 1024;

/**
 * FIFO of entries with an index head instead of Array#shift (O(n) per call on long queues).
 * Entries that leave out of order (cancelled, expired) stay in place, no longer "queued", are
 * skipped by readers (who scan `items` from `head`) and dropped once they reach the head.
 */
class EntryQueue<T, R> {
  items: (Entry<T, R> | undefined)[] = [];
  head = 0;

  /** The oldest entry still queued, after dropping the ones that left from the front. */
  first(): Entry<T, R> | undefined {
    const items = this.items;
    while (this.head < items.length) {
      const entry = items[this.head];
      if (entry?.state === "queued") {
        if (this.head >= COMPACT_AFTER && this.head * 2 >= items.length) {
          items.splice(0, this.head);
          this.head = 0;
        }
        return entry;
      }
      items[this.head++] = undefined;
    }
    items.length = 0;
    this.head = 0;
    return undefined;
  }
}

/**
 * Triton-style dynamic batcher, generic over the payload: coalesces queued requests into batches
 * of at most `maxBatchSize` rows and runs at most `instanceCount` of them at a time. A batch is
 * dispatched when it is full (or the next request does not fit), when it reaches a preferred size,
 * when the oldest request has waited `maxQueueDelayMicros`, or while draining.
 */
export class DynamicBatcher<T, R> {
  readonly options: BatcherOptions;
  /** One FIFO per priority level, highest priority first; a single one when priorities are off. */
  readonly #levels: EntryQueue<T, R>[];
  /** Rows one batch may hold: 1 when the model has no batch dimension. */
  readonly #capacity: number;
  readonly #preferred: ReadonlySet<number>;
  readonly #smallestPreferred: number;
  readonly #delayMs: number;
  #queuedRequests = 0;
  #queuedRows = 0;
  #running = 0;
  /** The one timer: wakes the batcher when the oldest queued request has waited the delay. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  /** Wakes up at the earliest queued deadline, so a request is answered when it expires, not when its batch goes. */
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineDue = Infinity;
  #pumping = false;
  #pumpAgain = false;
  #draining = false;
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;
  readonly #execute: BatchExecutor<T, R>;

  constructor(options: BatcherOptions, execute: BatchExecutor<T, R>) {
    this.options = resolveBatcherOptions(options);
    this.#execute = execute;
    const { maxBatchSize, preferredBatchSizes, priorityLevels, maxQueueDelayMicros } = this.options;
    this.#levels = Array.from(
      { length: Math.max(priorityLevels, 1) },
      () => new EntryQueue<T, R>(),
    );
    this.#capacity = maxBatchSize === 0 ? 1 : maxBatchSize;
    this.#preferred = new Set(preferredBatchSizes);
    this.#smallestPreferred = preferredBatchSizes[0] ?? Infinity;
    this.#delayMs = maxQueueDelayMicros / 1000;
  }

  /** Requests queued, not running. */
  get pendingRequests(): number {
    return this.#queuedRequests;
  }
  /** Rows of the queued requests. */
  get pendingRows(): number {
    return this.#queuedRows;
  }
  get runningBatches(): number {
    return this.#running;
  }

  /** Queues one request; resolves with its result, or rejects with a BatcherError or the executor's error. */
  submit(item: BatchItem<T>): Promise<R> {
    const now = performance.now();
    const refusal = this.#refuse(item, now);
    if (refusal !== undefined) return Promise.reject(refusal);
    const { priorityLevels: levels, defaultPriorityLevel } = this.options;
    const asked = item.priority ?? 0;
    // As Triton: a level that is missing, 0 or out of range means the default level.
    const level =
      Number.isInteger(asked) && asked >= 1 && asked <= levels ? asked : defaultPriorityLevel;
    const priority = levels === 0 ? undefined : level;
    const queued: QueuedItem<T> = { ...item, priority, enqueuedAt: now };
    let entry!: Entry<T, R>;
    const result = new Promise<R>((resolve, reject) => {
      entry = { item: queued, state: "queued", resolve, reject, onAbort: undefined };
    });
    if (item.signal !== undefined) {
      entry.onAbort = () => this.#cancel(entry);
      item.signal.addEventListener("abort", entry.onAbort, { once: true });
    }
    this.#levels[Math.max(level, 1) - 1]?.items.push(entry);
    this.#queuedRequests++;
    this.#queuedRows += item.rows;
    this.#pump();
    if (item.deadline !== undefined && entry.state === "queued")
      this.#armDeadlineTimer(item.deadline);
    return result;
  }

  /** Refuse new items (code "closed"), let queued and running ones finish; resolves when all settled. */
  drain(): Promise<void> {
    this.#draining = true;
    this.#drained ??= new Promise((resolve) => (this.#resolveDrained = resolve));
    this.#pump();
    return this.#drained;
  }

  #refuse({ rows, signal, deadline }: BatchItem<T>, now: number): BatcherError | undefined {
    const { label, maxBatchSize, maxQueueSize } = this.options;
    if (this.#draining) return BatcherError.closed(label);
    if (!Number.isInteger(rows) || rows < 1 || (maxBatchSize === 0 && rows !== 1)) {
      return BatcherError.invalidRows(label, rows, maxBatchSize);
    }
    if (maxBatchSize > 0 && rows > maxBatchSize)
      return BatcherError.tooLarge(label, rows, maxBatchSize);
    if (signal?.aborted === true) return BatcherError.cancelled(label, signal.reason);
    if (deadline !== undefined && deadline <= now) {
      return BatcherError.deadlineExceeded(label, now - deadline);
    }
    if (maxQueueSize > 0 && this.#queuedRequests >= maxQueueSize) {
      return BatcherError.queueFull(label, this.#queuedRequests, maxQueueSize);
    }
    return undefined;
  }

  /**
   * Dispatches every batch that is ready while an instance is free, then arms the timer. Re-entrant
   * calls (an executor or abort listener submitting synchronously) only ask the running loop to go
   * round once more, so batches are never formed from a half-updated queue.
   */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        while (this.#running < this.options.instanceCount && this.#queuedRequests > 0) {
          if (!this.#dispatchNext(performance.now())) break;
        }
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
    this.#armTimer();
    if (this.#queuedRequests === 0 && this.#deadlineTimer !== undefined) {
      // Nothing left to expire: a pending timer would only keep the process alive.
      clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = undefined;
      this.#deadlineDue = Infinity;
    }
    if (
      this.#draining &&
      this.#queuedRequests === 0 &&
      this.#running === 0 &&
      this.#resolveDrained
    ) {
      const resolve = this.#resolveDrained;
      this.#resolveDrained = undefined;
      resolve();
    }
  }

  /**
   * Forms the batch at the head of the queue (priority levels in order, FIFO within a level) and
   * dispatches it if one of Triton's conditions holds. Expired items met on the way are rejected.
   */
  #dispatchNext(now: number): boolean {
    // Cheap exit for the common "still filling" case, so each submit does not walk the queue.
    const queuedRows = this.#queuedRows;
    const filling = queuedRows < this.#capacity && queuedRows < this.#smallestPreferred;
    if (filling && !this.#delayExceeded(now)) return false;
    const batch: Entry<T, R>[] = [];
    let rows = 0;
    let preferredRows = 0;
    // `full` stays true only when the walk breaks out: the batch reached capacity or the next item
    // does not fit (never reorder past it: it starts the next batch).
    let full = true;
    walk: {
      for (const queue of this.#levels) {
        for (let i = queue.head; i < queue.items.length; i++) {
          const entry = queue.items[i];
          if (entry?.state !== "queued") continue;
          const deadline = entry.item.deadline;
          if (deadline !== undefined && deadline <= now) {
            this.#expire(entry, now);
            continue;
          }
          if (rows + entry.item.rows > this.#capacity) break walk;
          batch.push(entry);
          rows += entry.item.rows;
          if (this.#preferred.has(rows)) preferredRows = rows;
          if (rows === this.#capacity) break walk;
        }
      }
      full = false;
    }
    if (batch.length === 0) return false;
    const delayExceeded = this.#delayExceeded(now);
    if (preferredRows > 0 && !delayExceeded) {
      // As Triton: the largest preferred size that can be formed wins until the delay runs out.
      while (rows > preferredRows) rows -= batch.pop()?.item.rows ?? 0;
    } else if (!full && !delayExceeded) {
      return false;
    }
    for (const entry of batch) this.#leaveQueue(entry, "running");
    for (const queue of this.#levels) queue.first();
    this.#running++;
    void this.#run(batch, rows);
    return true;
  }

  #delayExceeded(now: number): boolean {
    return this.#draining || this.#delayMs === 0 || now - this.#oldestEnqueuedAt() >= this.#delayMs;
  }

  #oldestEnqueuedAt(): number {
    let oldest = Infinity;
    for (const queue of this.#levels)
      oldest = Math.min(oldest, queue.first()?.item.enqueuedAt ?? Infinity);
    return oldest;
  }

  /** Never rejects: the executor's failure goes to the batch's items and the slot is always released. */
  async #run(batch: Entry<T, R>[], rows: number): Promise<void> {
    try {
      const items = batch.map((entry) => entry.item);
      const results = await this.#execute(items, { rows, dispatchedAt: performance.now() });
      if (!Array.isArray(results) || results.length !== batch.length) {
        const got = Array.isArray(results) ? `${results.length} results` : show(results);
        const error = new Error(
          `executor for ${this.options.label} returned ${got} for a batch of ${batch.length} requests (${rows} rows): expected one result per request, in order`,
        );
        for (const entry of batch) entry.reject(error);
      } else {
        for (let i = 0; i < batch.length; i++) batch[i]?.resolve(results[i] as R);
      }
    } catch (error: unknown) {
      for (const entry of batch) entry.reject(error);
    } finally {
      for (const entry of batch) entry.state = "done";
      this.#running--;
      this.#pump();
    }
  }

  /** Only when an instance is free and the head batch is still filling; otherwise a finishing batch re-pumps. */
  #armTimer(): void {
    const busy = this.#running >= this.options.instanceCount;
    if (busy || this.#draining || this.#delayMs === 0 || this.#queuedRequests === 0) {
      this.#clearTimer();
      return;
    }
    const due = this.#oldestEnqueuedAt() + this.#delayMs;
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    this.#clearTimer();
    this.#timerDue = due;
    // ceil: firing before the delay would only find the batch unready and re-arm.
    this.#timer = setTimeout(this.#onTimer, Math.max(0, Math.ceil(due - performance.now())));
  }

  /** One timer for the earliest deadline; it only ever moves earlier here, and onDeadline finds the next. */
  #armDeadlineTimer(deadline: number): void {
    if (deadline >= this.#deadlineDue) return;
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineDue = deadline;
    this.#deadlineTimer = setTimeout(
      this.#onDeadline,
      Math.max(0, Math.ceil(deadline - performance.now())),
    );
  }

  /** Expires overdue items and re-arms for the next deadline; a scan, but only when a deadline passes. */
  readonly #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    this.#deadlineDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const queue of this.#levels) {
      for (let i = queue.head; i < queue.items.length; i++) {
        const entry = queue.items[i];
        const deadline = entry?.item.deadline;
        if (entry?.state !== "queued" || deadline === undefined) continue;
        if (deadline <= now) this.#expire(entry, now);
        else next = Math.min(next, deadline);
      }
    }
    if (next !== Infinity) this.#armDeadlineTimer(next);
    // Removing items can complete a drain or expose a preferred-size batch.
    this.#pump();
  };

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    // The queue is short here (an instance is free and the head batch is not full): a scan is cheap.
    const now = performance.now();
    for (const queue of this.#levels) {
      for (let i = queue.head; i < queue.items.length; i++) {
        const entry = queue.items[i];
        const deadline = entry?.item.deadline;
        if (entry?.state === "queued" && deadline !== undefined && deadline <= now) {
          this.#expire(entry, now);
        }
      }
    }
    this.#pump();
  };

  #cancel(entry: Entry<T, R>): void {
    if (entry.state !== "queued") return;
    const waited = performance.now() - entry.item.enqueuedAt;
    this.#leaveQueue(entry, "done");
    entry.reject(BatcherError.cancelled(this.options.label, entry.item.signal?.reason, waited));
    // Removing an item can complete a drain or expose a preferred-size batch.
    this.#pump();
  }

  #expire(entry: Entry<T, R>, now: number): void {
    const { deadline = now, enqueuedAt } = entry.item;
    this.#leaveQueue(entry, "done");
    entry.reject(
      BatcherError.deadlineExceeded(this.options.label, now - deadline, now - enqueuedAt),
    );
  }

  /** Takes an entry out of the counts and drops its abort listener, so a long-lived signal does not keep it alive. */
  #leaveQueue(entry: Entry<T, R>, state: EntryState): void {
    entry.state = state;
    this.#queuedRequests--;
    this.#queuedRows -= entry.item.rows;
    if (entry.onAbort !== undefined) {
      entry.item.signal?.removeEventListener("abort", entry.onAbort);
      entry.onAbort = undefined;
    }
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
