/**
 * Where a backtest starts and ends: `--from` and `--to` as the user writes them (an offset, a
 * time, a duration ago, `earliest`, `end`), and the per-partition offset ranges they resolve to
 * through the topic's history (Kafka's ListOffsets, by timestamp for times). The end is taken
 * once, at the start: a backtest ends by itself however busy or idle the topic is.
 */
import { parseDuration } from "../features/spec-yaml.js";
import type { PartitionRange, TopicHistory } from "../ports/topic-history.js";

/** One end of the range, before it is resolved per partition. */
export type RangeBound =
  | { readonly kind: "earliest" }
  | { readonly kind: "end" }
  /** The same offset on every partition. */
  | { readonly kind: "offset"; readonly offset: bigint }
  /** Epoch milliseconds: the first record at or after it. */
  | { readonly kind: "time"; readonly ms: number };

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Reads `text`: `earliest`, `end` (or `latest`), a non-negative integer (an offset on every
 * partition), an ISO 8601 time (`2026-03-09T12:00:00Z`; a date alone is midnight UTC), or a
 * duration before `now` (`30m`, `1h`, `7d`). Throws a RangeError saying what was expected.
 */
export function parseRangeBound(text: string, now: number = Date.now()): RangeBound {
  const value = text.trim();
  if (value === "earliest") return { kind: "earliest" };
  if (value === "end" || value === "latest") return { kind: "end" };
  if (/^\d+$/.test(value)) return { kind: "offset", offset: BigInt(value) };
  if (ISO_DATE.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return { kind: "time", ms };
  }
  const ago = parseDuration(value);
  if (ago !== undefined) return { kind: "time", ms: now - ago };
  throw new RangeError(
    `expected an offset (e.g. 1200), an ISO 8601 time (e.g. 2026-03-09T12:00:00Z), a duration ago (e.g. 1h), "earliest" or "end", got "${text}"`,
  );
}

/** How a bound reads in a report. */
export function describeBound(bound: RangeBound): string {
  switch (bound.kind) {
    case "earliest":
    case "end":
      return bound.kind;
    case "offset":
      return `offset ${bound.offset}`;
    case "time":
      return new Date(bound.ms).toISOString();
  }
}

/**
 * Per partition of `topic`, the offsets [from, to) between `from` and `to`, clamped to what the
 * log holds now (its start, and its end as read now). An empty range is kept (from = to).
 */
export async function resolveRanges(
  history: TopicHistory,
  topic: string,
  from: RangeBound,
  to: RangeBound,
): Promise<PartitionRange[]> {
  const extents = await history.extents(topic);
  const at = async (bound: RangeBound): Promise<(partition: number) => bigint | undefined> => {
    if (bound.kind === "time") {
      const offsets = await history.offsetsForTime(topic, bound.ms);
      return (partition) => offsets.get(partition);
    }
    return (partition) => {
      const extent = extents.find((e) => e.partition === partition);
      if (bound.kind === "earliest") return extent?.start;
      if (bound.kind === "end") return extent?.end;
      return bound.offset;
    };
  };
  const [start, end] = await Promise.all([at(from), at(to)]);
  return extents.map(({ partition, start: logStart, end: logEnd }) => {
    const clamp = (offset: bigint | undefined, otherwise: bigint) => {
      const value = offset ?? otherwise;
      return value < logStart ? logStart : value > logEnd ? logEnd : value;
    };
    const first = clamp(start(partition), logStart);
    const last = clamp(end(partition), logEnd);
    return { partition, from: first, to: last < first ? first : last };
  });
}
