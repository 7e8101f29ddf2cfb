/**
 * One entity's recorded events in one partition, in consumer memory: what its sliding windows and
 * its previous event are answered from. Where the log comes from and goes to (Redis, on a cache
 * miss and after every micro-batch) is the store's business (`adapters/redis-feature-store.ts`).
 *
 * Rows are in offset order: the order the partition delivered the events, so the order a window
 * must respect (an event sees the rows up to its own offset). A row is the event's offset, event
 * time, a size the store gives it (its bytes in Redis) and its tracked numbers, side by side in ONE
 * Float64Array per entity, plus its tracked strings in one array: a few objects per entity rather
 * than one per event, so a hundred thousand entities of a day's history each stay cheap for the
 * garbage collector.
 *
 * When event times never go backwards along the offsets (`ordered`: events arrive in time order,
 * the usual case) the rows of a window are found by binary search; otherwise every row up to the
 * event's offset is checked. Aggregations add rows up in offset order, so the same rows give the
 * same bits whether they were recorded here or loaded after a crash.
 */
import type { WindowAggregation } from "./feature-definition.js";
import type { StatePlan } from "../ports/feature-store.js";

/** Rows a new log has room for: most entities have a handful of events in their longest window. */
const INITIAL_CAPACITY = 4;
/** Offset, time, size: the columns before the tracked numbers. */
const FIXED_COLUMNS = 3;
/**
 * Heap bytes of one tracked string beyond its characters: its array slot. Short values (ids,
 * categories) come out of JSON.parse internalized, shared by every row that holds them, so their
 * header is not counted again per row; their characters are (an over-estimate for shared ones).
 * Heap snapshots of the soak measured ~51 bytes per recorded event; this estimate gives ~60.
 */
const STRING_OVERHEAD_BYTES = 8;
/**
 * The log's own objects (the EntityLog, its arrays), the store's and the cache's entries and the
 * key: ~1 KB of heap per entity, as measured for `DEFAULT_MAX_CACHED_ENTITIES`.
 */
const ENTITY_OVERHEAD_BYTES = 1024;

/** A window of the plan, its field resolved to a column of the rows. */
interface LayoutWindow {
  readonly aggregation: WindowAggregation;
  /** Column among the numbers (sum, mean, min, max) or the strings (distinct_count); -1 for count. */
  readonly column: number;
  readonly overMs: number;
}

/** Where a plan's tracked values go in a row; one per plan, shared by every log of it. */
export class EntityLayout {
  /** Tracked numbers per row. */
  readonly numbers: number;
  /** Tracked strings per row. */
  readonly strings: number;
  /** Per tracked field (plan order): its column among the numbers, or `-1 - column` among the strings. */
  readonly columns: readonly number[];
  readonly windows: readonly LayoutWindow[];
  /** Float64 slots per row. */
  readonly stride: number;

  /**
   * A field aggregated by distinct_count is a string (the compiler reads it as one); every other
   * tracked field is a number.
   */
  constructor(plan: StatePlan) {
    const isString = plan.trackedFields.map((_, field) =>
      plan.windows.some((w) => w.field === field && w.aggregation === "distinct_count"),
    );
    let numbers = 0;
    let strings = 0;
    this.columns = isString.map((string) => (string ? -1 - strings++ : numbers++));
    this.numbers = numbers;
    this.strings = strings;
    this.stride = FIXED_COLUMNS + numbers;
    this.windows = plan.windows.map((window) => {
      const column = window.field === undefined ? -1 : this.columns[window.field]!;
      return {
        aggregation: window.aggregation,
        column: column < 0 && window.field !== undefined ? -1 - column : column,
        overMs: window.overMs,
      };
    });
  }
}

const layouts = new WeakMap<StatePlan, EntityLayout>();

/** The layout of `plan`, made once per plan. */
export function layoutOf(plan: StatePlan): EntityLayout {
  let layout = layouts.get(plan);
  if (layout === undefined) {
    layout = new EntityLayout(plan);
    layouts.set(plan, layout);
  }
  return layout;
}

/** Rows a push looks back for its string's last row before leaving the link to a later pass. */
const LINK_LOOK_BACK = 64;
/** `#lastBefore`: not within the rows it looked at. */
const UNKNOWN = -2;

/** Reused by distinct_count over rows out of time order: one event's window at a time, one thread. */
const distinct = new Set<string>();

export class EntityLog {
  readonly layout: EntityLayout;
  #rows: Float64Array;
  #strings: string[];
  /**
   * Per row and tracked string (as `#strings`): the last row before it with the same string, or
   * a negative number when none is left. A window over rows `start..end` holds as many distinct
   * strings as rows whose previous one is before `start`: distinct_count counts them without a
   * Set, which hashed each row's string once per event (about 70 ns a row).
   */
  #previous: Int32Array;
  /**
   * Rows `0..linked-1` have their links. A push links its row by looking back a few rows; a row
   * whose same string is further back (or a log loaded from Redis row by row) leaves the rest to
   * one pass with a map when a window next asks: never more than the Set it replaces.
   */
  #linked = 0;
  #length = 0;
  #ordered = true;
  #size = 0;
  /** Estimated heap bytes of the live strings. */
  #stringBytes = 0;

  constructor(layout: EntityLayout, capacity = INITIAL_CAPACITY) {
    this.layout = layout;
    this.#rows = new Float64Array(Math.max(1, capacity) * layout.stride);
    this.#strings = [];
    this.#previous = new Int32Array(Math.max(1, capacity) * layout.strings);
  }

  /** Rows recorded and not pruned. */
  get length(): number {
    return this.#length;
  }

  /** The sum of the live rows' sizes. */
  get size(): number {
    return this.#size;
  }

  /**
   * Estimated memory the log holds in this process, in bytes: its rows' typed array (with its
   * spare room), its strings and its objects. What the cache's `max_cached_bytes` bound counts.
   */
  get memoryBytes(): number {
    return (
      ENTITY_OVERHEAD_BYTES + this.#rows.byteLength + this.#previous.byteLength + this.#stringBytes
    );
  }

  /** The highest offset recorded, -1 when the log is empty. */
  get maxOffset(): number {
    return this.#length === 0 ? -1 : this.offset(this.#length - 1);
  }

  /** Whether event times never decrease along the offsets. */
  get ordered(): boolean {
    return this.#ordered;
  }

  offset(row: number): number {
    return this.#rows[row * this.layout.stride]!;
  }

  time(row: number): number {
    return this.#rows[row * this.layout.stride + 1]!;
  }

  rowSize(row: number): number {
    return this.#rows[row * this.layout.stride + 2]!;
  }

  /** Tracked value `field` (plan order) of `row`. */
  value(row: number, field: number): number | string {
    const column = this.layout.columns[field]!;
    return column >= 0
      ? this.#rows[row * this.layout.stride + FIXED_COLUMNS + column]!
      : this.#strings[row * this.layout.strings - 1 - column]!;
  }

  /**
   * Records an event; its offset must be above every recorded one (a replayed event is answered
   * from the rows already there, never pushed again). `values` are in plan order; `size` is
   * counted in `size` while the row lives.
   */
  push(offset: number, time: number, values: readonly (number | string)[], size: number): void {
    const { stride, columns, strings } = this.layout;
    const length = this.#length;
    if (length > 0 && offset <= this.offset(length - 1)) {
      throw new RangeError(`offset ${offset}: expected above ${this.offset(length - 1)}`);
    }
    if ((length + 1) * stride > this.#rows.length) {
      const grown = new Float64Array(this.#rows.length * 2);
      grown.set(this.#rows);
      this.#rows = grown;
      const previous = new Int32Array((this.#rows.length / stride) * strings);
      previous.set(this.#previous);
      this.#previous = previous;
    }
    const rows = this.#rows;
    const at = length * stride;
    let unlinked = this.#linked !== length;
    rows[at] = offset;
    rows[at + 1] = time;
    rows[at + 2] = size;
    for (let field = 0; field < columns.length; field++) {
      const column = columns[field]!;
      const value = values[field]!;
      if (column >= 0) rows[at + FIXED_COLUMNS + column] = Number(value);
      else {
        const text = String(value);
        this.#strings[length * strings - 1 - column] = text;
        if (this.#linked === length) {
          const previous = this.#lastBefore(length, -1 - column, text);
          if (previous === UNKNOWN) unlinked = true;
          else this.#previous[length * strings - 1 - column] = previous;
        }
        this.#stringBytes += stringBytes(text);
      }
    }
    if (length > 0 && time < rows[at - stride + 1]!) this.#ordered = false;
    if (!unlinked) this.#linked = length + 1;
    this.#length = length + 1;
    this.#size += size;
  }

  /**
   * Forgets rows with event time ≤ `cutoff` that no event after them needs: the last of them stays
   * when a later row follows it (it is that row's previous event, which a replay of that row must
   * find again), and the last row always stays (the previous event of the entity's next one,
   * however old). Returns how many rows went.
   */
  prune(cutoff: number): number {
    const length = this.#length;
    if (length <= 1) return 0;
    let dropped: number;
    if (this.#ordered) {
      dropped = this.#after(cutoff, 0, length) - 1;
      if (dropped <= 0) return 0;
      for (let row = 0; row < dropped; row++) this.#forget(row);
      this.#move(dropped, length, 0);
      // The rows moved up by `dropped`; a previous row among the dropped ones becomes negative.
      const previous = this.#previous;
      for (let i = 0; i < (length - dropped) * this.layout.strings; i++) previous[i]! -= dropped;
      this.#linked = Math.max(0, this.#linked - dropped);
    } else {
      let kept = 0;
      for (let row = 0; row < length; row++) {
        const needed = row === length - 1 || this.time(row) > cutoff || this.time(row + 1) > cutoff;
        if (needed) {
          if (kept !== row) this.#move(row, row + 1, kept);
          kept++;
        } else {
          this.#forget(row);
        }
      }
      dropped = length - kept;
      if (dropped === 0) return 0;
    }
    this.#length = length - dropped;
    this.#strings.length = this.#length * this.layout.strings;
    // Rows taken out from between others: the links are made again when next needed.
    if (!this.#ordered) this.#linked = 0;
    this.#ordered = this.#isOrdered();
    this.#shrink();
    return dropped;
  }

  /**
   * The plan's windows for an event at `time` with `offset`: the rows with event time in
   * (time − W, time] and an offset up to `offset`, written to `out` from `base` in plan order.
   */
  answer(offset: number, time: number, out: Float64Array, base: number): void {
    const last = this.#upTo(offset);
    const windows = this.layout.windows;
    if (this.#ordered) {
      // Rows 0..last all precede the event; those up to `end` are not later than it in time.
      const end = this.#after(time, 0, last + 1) - 1;
      for (let w = 0; w < windows.length; w++) {
        const window = windows[w]!;
        const start = this.#after(time - window.overMs, 0, end + 1);
        out[base + w] = this.#aggregate(window, start, end, -Infinity, Infinity);
      }
    } else {
      for (let w = 0; w < windows.length; w++) {
        const window = windows[w]!;
        out[base + w] = this.#aggregate(window, 0, last, time - window.overMs, time);
      }
    }
  }

  /** Event time of the last row before `offset` in the stream; undefined when there is none. */
  previous(offset: number): number | undefined {
    const row = this.#upTo(offset - 1);
    return row < 0 ? undefined : this.time(row);
  }

  /**
   * Aggregates rows `start..end` (inclusive) whose time is in (`after`, `until`]; with infinite
   * bounds every row in range counts, which is the ordered case.
   */
  #aggregate(
    window: LayoutWindow,
    start: number,
    end: number,
    after: number,
    until: number,
  ): number {
    const rows = this.#rows;
    const stride = this.layout.stride;
    const all = after === -Infinity;
    switch (window.aggregation) {
      case "count": {
        if (all) return Math.max(0, end - start + 1);
        let n = 0;
        for (let row = start; row <= end; row++) {
          const t = rows[row * stride + 1]!;
          if (t > after && t <= until) n++;
        }
        return n;
      }
      case "distinct_count": {
        const width = this.layout.strings;
        if (all) {
          if (this.#linked < this.#length) this.#linkStrings();
          const previous = this.#previous;
          let n = 0;
          for (let row = start; row <= end; row++) {
            if (previous[row * width + window.column]! < start) n++;
          }
          return n;
        }
        const strings = this.#strings;
        distinct.clear();
        for (let row = start; row <= end; row++) {
          const t = rows[row * stride + 1]!;
          if (all || (t > after && t <= until)) distinct.add(strings[row * width + window.column]!);
        }
        const n = distinct.size;
        distinct.clear();
        return n;
      }
      default: {
        const column = FIXED_COLUMNS + window.column;
        let sum = 0;
        let n = 0;
        let min = Infinity;
        let max = -Infinity;
        for (let row = start; row <= end; row++) {
          const t = rows[row * stride + 1]!;
          if (!all && !(t > after && t <= until)) continue;
          const v = rows[row * stride + column]!;
          sum += v;
          n++;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        switch (window.aggregation) {
          case "sum":
            return sum;
          case "mean":
            return sum / n;
          case "min":
            return min;
          default:
            return max;
        }
      }
    }
  }

  /** Index of the last row with an offset ≤ `offset`, -1 when none (offsets ascend). */
  #upTo(offset: number): number {
    let lo = 0;
    let hi = this.#length;
    const rows = this.#rows;
    const stride = this.layout.stride;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid * stride]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** First row in [from, to) whose time is > `time` (`to` when none); times must ascend there. */
  #after(time: number, from: number, to: number): number {
    let lo = from;
    let hi = to;
    const rows = this.#rows;
    const stride = this.layout.stride;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid * stride + 1]! <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Takes a row that is about to go out of the log's counts. */
  #forget(row: number): void {
    this.#size -= this.rowSize(row);
    const width = this.layout.strings;
    for (let i = row * width; i < (row + 1) * width; i++) {
      this.#stringBytes -= stringBytes(this.#strings[i]!);
    }
  }

  /** Moves rows [from, to) to start at `at` (at ≤ from). */
  #move(from: number, to: number, at: number): void {
    const { stride, strings } = this.layout;
    this.#rows.copyWithin(at * stride, from * stride, to * stride);
    if (strings > 0) {
      for (let i = from * strings; i < to * strings; i++) {
        this.#strings[at * strings + (i - from * strings)] = this.#strings[i]!;
      }
      this.#previous.copyWithin(at * strings, from * strings, to * strings);
    }
  }

  #isOrdered(): boolean {
    for (let row = 1; row < this.#length; row++) {
      if (this.time(row) < this.time(row - 1)) return false;
    }
    return true;
  }

  /** Gives memory back once pruning has left the rows a quarter of their room. */
  #shrink(): void {
    const stride = this.layout.stride;
    const capacity = this.#rows.length / stride;
    if (capacity <= INITIAL_CAPACITY * 4 || this.#length * 4 > capacity) return;
    const rows = Math.max(INITIAL_CAPACITY, this.#length * 2);
    this.#rows = this.#rows.slice(0, rows * stride);
    this.#previous = this.#previous.slice(0, rows * this.layout.strings);
  }

  /**
   * The last row before `row` whose tracked string `column` is `text`; -1 when none; UNKNOWN when
   * it is not within `LINK_LOOK_BACK` rows.
   */
  #lastBefore(row: number, column: number, text: string): number {
    const strings = this.#strings;
    const width = this.layout.strings;
    const stop = Math.max(0, row - LINK_LOOK_BACK);
    for (let before = row - 1; before >= stop; before--) {
      if (strings[before * width + column] === text) return before;
    }
    return stop === 0 ? -1 : UNKNOWN;
  }

  /**
   * Every row's previous same string again, after rows were taken out from between others: one
   * pass with a map per column (a scan back per row would be quadratic in a busy entity's rows).
   */
  #linkStrings(): void {
    const width = this.layout.strings;
    for (let column = 0; column < width; column++) {
      const last = new Map<string, number>();
      for (let row = 0; row < this.#length; row++) {
        const text = this.#strings[row * width + column]!;
        this.#previous[row * width + column] = last.get(text) ?? -1;
        last.set(text, row);
      }
    }
    this.#linked = this.#length;
  }
}

function stringBytes(text: string): number {
  return STRING_OVERHEAD_BYTES + text.length;
}
