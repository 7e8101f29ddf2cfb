/**
 * A sliding window of counters as a ring of slices: the drift monitor's bins, the evaluator's
 * confusion counts and score histograms, the guard rails' error and latency counts all live in
 * one. Adding is one array addition into the current slice; nothing is allocated after
 * construction. The window slides a slice at a time: when the ring turns, the oldest slice is
 * cleared and reused.
 *
 * - `events`: N events in S slices of ⌈N/S⌉ events; the window holds the last N − N/S … N events.
 * - `time`: a duration D in S slices of D/S by the clock the caller passes (slice k holds
 *   [k·D/S, (k+1)·D/S)); the window holds the last D − D/S … D of time.
 *
 * Totals are summed from the slices when read (once per micro-batch, S × width additions), never
 * kept by adding and subtracting: sums of non-integers (log loss) would drift by rounding.
 */

/** A window by event count or by time, cut into slices. */
export type WindowSpec =
  | { readonly kind: "events"; readonly events: number; readonly slices: number }
  | { readonly kind: "time"; readonly durationMs: number; readonly slices: number };

/** Ten slices: the window moves by a tenth of its length, a cheap ring with a smooth slide. */
export const DEFAULT_SLICES = 10;

/** `"10000 events in 10 slices"`, `"1h in 12 slices"`: for messages and evidence. */
export function describeWindow(spec: WindowSpec): string {
  return spec.kind === "events"
    ? `the last ${spec.events} events (${spec.slices} slices)`
    : `the last ${spec.durationMs} ms (${spec.slices} slices)`;
}

/** Where a window stands: how many events it holds and the clock span they were added in. */
export interface WindowExtent {
  readonly events: number;
  /** The clock value of the oldest slice's first addition; NaN when empty. */
  readonly from: number;
  /** The clock value of the latest addition; NaN when empty. */
  readonly to: number;
}

export class SlicedWindow {
  readonly width: number;
  readonly spec: WindowSpec;
  readonly #values: Float64Array; // slices × width
  readonly #events: Float64Array; // per slice
  readonly #first: Float64Array; // per slice: clock of its first addition
  readonly #last: Float64Array; // per slice: clock of its latest addition
  readonly #ids: Float64Array; // time windows: the absolute slice number a ring slot holds
  readonly #capacity: number; // event windows: events per slice
  readonly #sliceMs: number;
  readonly #totals: Float64Array;
  #slot = 0;
  #offset = 0; // #slot × width
  #newest = Number.NEGATIVE_INFINITY; // time windows: the latest slice number seen

  constructor(width: number, spec: WindowSpec) {
    if (!Number.isInteger(width) || width < 1) {
      throw new RangeError(`window width: expected a positive integer, got ${width}`);
    }
    if (!Number.isInteger(spec.slices) || spec.slices < 1) {
      throw new RangeError(`window slices: expected a positive integer, got ${spec.slices}`);
    }
    this.width = width;
    this.spec = spec;
    const slices = spec.slices;
    this.#values = new Float64Array(slices * width);
    this.#events = new Float64Array(slices);
    this.#first = new Float64Array(slices).fill(Number.NaN);
    this.#last = new Float64Array(slices).fill(Number.NaN);
    this.#ids = new Float64Array(slices).fill(Number.NEGATIVE_INFINITY);
    this.#totals = new Float64Array(width);
    if (spec.kind === "events") {
      if (!Number.isInteger(spec.events) || spec.events < 1) {
        throw new RangeError(`window events: expected a positive integer, got ${spec.events}`);
      }
      this.#capacity = Math.ceil(spec.events / slices);
      this.#sliceMs = 0;
    } else {
      if (!(spec.durationMs > 0)) {
        throw new RangeError(
          `window duration: expected a positive duration, got ${spec.durationMs}`,
        );
      }
      this.#capacity = Number.POSITIVE_INFINITY;
      this.#sliceMs = spec.durationMs / slices;
    }
  }

  /**
   * Starts `events` events (@default 1) at clock `now`: turns the ring when the current slice is
   * full (events) or its time is over (time). Returns the offset of the current slice: add into it
   * with `add`. A group of events (a micro-batch's call) stays in one slice, which may so hold a
   * little more than its share.
   */
  beginEvent(now: number, events = 1): number {
    this.#advance(now);
    const slot = this.#slot;
    if (this.#events[slot]! === 0) this.#first[slot] = now;
    this.#events[slot]! += events;
    this.#last[slot] = now;
    return this.#offset;
  }

  /** Adds `amount` to counter `index` of the current slice (after `beginEvent`). */
  add(index: number, amount: number): void {
    this.#values[this.#offset + index]! += amount;
  }

  /** The slice storage, for a caller that adds at `beginEvent`'s offset + index itself. */
  get values(): Float64Array {
    return this.#values;
  }

  /**
   * The window's totals at `now` (time windows drop slices that have aged out first). The array
   * is reused: read it before the next call.
   */
  totals(now: number): Float64Array {
    this.#expire(now);
    const totals = this.#totals;
    totals.fill(0);
    const width = this.width;
    for (let s = 0; s < this.spec.slices; s++) {
      if (this.#events[s]! === 0) continue;
      const base = s * width;
      for (let i = 0; i < width; i++) totals[i]! += this.#values[base + i]!;
    }
    return totals;
  }

  /** Events in the window and the clock span they cover, at `now`. */
  extent(now: number): WindowExtent {
    this.#expire(now);
    let events = 0;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    for (let s = 0; s < this.spec.slices; s++) {
      if (this.#events[s]! === 0) continue;
      events += this.#events[s]!;
      from = Math.min(from, this.#first[s]!);
      to = Math.max(to, this.#last[s]!);
    }
    return events === 0 ? { events, from: Number.NaN, to: Number.NaN } : { events, from, to };
  }

  /** Empties every slice. */
  clear(): void {
    this.#values.fill(0);
    this.#events.fill(0);
    this.#first.fill(Number.NaN);
    this.#last.fill(Number.NaN);
    this.#ids.fill(Number.NEGATIVE_INFINITY);
    this.#newest = Number.NEGATIVE_INFINITY;
  }

  #advance(now: number): void {
    if (this.spec.kind === "events") {
      if (this.#events[this.#slot]! >= this.#capacity)
        this.#moveTo((this.#slot + 1) % this.spec.slices);
      return;
    }
    // A clock that steps back (another host's, NTP) adds to the newest slice, never reopens an old one.
    const id = Math.max(Math.floor(now / this.#sliceMs), this.#newest);
    this.#newest = id;
    const slot = ((id % this.spec.slices) + this.spec.slices) % this.spec.slices;
    if (this.#ids[slot] !== id) {
      this.#moveTo(slot);
      this.#ids[slot] = id;
    } else if (slot !== this.#slot) {
      this.#slot = slot;
      this.#offset = slot * this.width;
    }
  }

  /** Time windows: empties the slots whose slice is no longer within the last `slices` slices. */
  #expire(now: number): void {
    if (this.spec.kind !== "time") return;
    const newest = Math.floor(now / this.#sliceMs);
    for (let s = 0; s < this.spec.slices; s++) {
      if (this.#events[s]! > 0 && this.#ids[s]! <= newest - this.spec.slices) this.#clearSlot(s);
    }
  }

  #moveTo(slot: number): void {
    this.#slot = slot;
    this.#offset = slot * this.width;
    this.#clearSlot(slot);
  }

  #clearSlot(slot: number): void {
    this.#values.fill(0, slot * this.width, (slot + 1) * this.width);
    this.#events[slot] = 0;
    this.#first[slot] = Number.NaN;
    this.#last[slot] = Number.NaN;
  }
}
