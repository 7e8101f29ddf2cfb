/**
 * An entity's log as Redis keeps it: a string of records, appended one micro-batch at a time
 * (APPEND) and rewritten whole only once pruning has made most of it stale. One record is
 *
 *   offset: float64 LE | event time: float64 LE | tracked numbers: float64 LE each |
 *   tracked strings: byte length (unsigned LEB128) + UTF-8 each
 *
 * in the layout's column order (`EntityLayout`). Numbers travel as their eight bytes: nothing is
 * formatted or parsed, and a value loaded after a crash is the value recorded, bit for bit.
 *
 * Records are in offset order except where a write was repeated (a retried APPEND whose reply was
 * lost) or two writers met (a member that lost the partition without knowing it): decoding sorts
 * by offset and keeps one record per offset. The same offset is always the same Kafka record, so
 * which copy is kept does not matter.
 */
import { EntityLog, type EntityLayout } from "../features/entity-log.js";

/** Bytes of the offset and the event time. */
const HEAD_BYTES = 16;

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

/**
 * The fields in record order: the numbers, then the strings, each in plan order (which is their
 * column order: `EntityLayout` numbers each kind's columns in plan order).
 */
function recordOrder(layout: EntityLayout): { numbers: number[]; strings: number[] } {
  const numbers: number[] = [];
  const strings: number[] = [];
  layout.columns.forEach((column, field) => (column >= 0 ? numbers : strings).push(field));
  return { numbers, strings };
}

/** Bytes of one record with `values` (plan order). */
export function recordSize(layout: EntityLayout, values: readonly (number | string)[]): number {
  let size = HEAD_BYTES + 8 * layout.numbers;
  if (layout.strings > 0) {
    for (let field = 0; field < layout.columns.length; field++) {
      if (layout.columns[field]! >= 0) continue;
      const bytes = Buffer.byteLength(String(values[field]), "utf8");
      size += varintBytes(bytes) + bytes;
    }
  }
  return size;
}

/** The bytes of the records of rows [from, to) of `log`. */
export function rowsSize(log: EntityLog, from: number, to: number): number {
  let size = 0;
  for (let row = from; row < to; row++) size += log.rowSize(row);
  return size;
}

/** The records of rows [from, to) of `log`, in offset order. */
export function encodeRows(log: EntityLog, from: number, to: number): Buffer {
  const size = rowsSize(log, from, to);
  const buffer = Buffer.allocUnsafe(size);
  const end = encodeRowsInto(log, from, to, buffer, 0);
  if (end !== size) throw new RangeError(`encoded ${end} bytes, rows say ${size}`);
  return buffer;
}

/**
 * The records of rows [from, to) of `log` written into `buffer` at `start` (room for
 * `rowsSize(log, from, to)` bytes); returns where they end.
 */
export function encodeRowsInto(
  log: EntityLog,
  from: number,
  to: number,
  buffer: Buffer,
  start: number,
): number {
  const { numbers, strings } = recordOrder(log.layout);
  let at = start;
  for (let row = from; row < to; row++) {
    at = buffer.writeDoubleLE(log.offset(row), at);
    at = buffer.writeDoubleLE(log.time(row), at);
    for (const field of numbers) at = buffer.writeDoubleLE(log.value(row, field) as number, at);
    for (const field of strings) {
      const text = log.value(row, field) as string;
      const bytes = Buffer.byteLength(text, "utf8");
      let length = bytes;
      while (length >= 0x80) {
        buffer[at++] = (length & 0x7f) | 0x80;
        length = Math.floor(length / 0x80);
      }
      buffer[at++] = length;
      at += buffer.write(text, at, bytes, "utf8");
    }
  }
  return at;
}

/** Bytes that are not a log of this layout: written by something else, or cut short. */
export class CorruptLogError extends Error {
  override readonly name = "CorruptLogError";
}

interface DecodedRecord {
  readonly offset: number;
  readonly time: number;
  readonly values: (number | string)[];
  readonly size: number;
}

/**
 * The log `bytes` hold, one row per offset, in offset order. Throws CorruptLogError, saying at
 * which byte and what was expected, when the bytes are not records of `layout`.
 */
export function decodeLog(layout: EntityLayout, bytes: Buffer): EntityLog {
  const records: DecodedRecord[] = [];
  const fields = layout.columns.length;
  const { numbers, strings } = recordOrder(layout);
  const order = [...numbers, ...strings];
  let at = 0;
  let sorted = true;
  let previous = -1;
  while (at < bytes.length) {
    const start = at;
    if (at + HEAD_BYTES + 8 * layout.numbers > bytes.length) {
      throw new CorruptLogError(
        `byte ${at}: expected a record of at least ${HEAD_BYTES + 8 * layout.numbers} bytes, got ${bytes.length - at}`,
      );
    }
    const offset = bytes.readDoubleLE(at);
    const time = bytes.readDoubleLE(at + 8);
    at += HEAD_BYTES;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isFinite(time)) {
      throw new CorruptLogError(
        `byte ${start}: expected an offset ≥ 0 and a finite event time, got ${offset} and ${time}`,
      );
    }
    const values = new Array<number | string>(fields);
    for (const field of order) {
      if (layout.columns[field]! >= 0) {
        values[field] = bytes.readDoubleLE(at);
        at += 8;
        continue;
      }
      let length = 0;
      let scale = 1;
      for (;;) {
        if (at >= bytes.length) {
          throw new CorruptLogError(`byte ${at}: expected a string length, got the end`);
        }
        const byte = bytes[at++]!;
        length += (byte & 0x7f) * scale;
        if (byte < 0x80) break;
        scale *= 0x80;
      }
      if (at + length > bytes.length) {
        throw new CorruptLogError(
          `byte ${at}: expected a string of ${length} bytes, got ${bytes.length - at}`,
        );
      }
      values[field] = bytes.toString("utf8", at, at + length);
      at += length;
    }
    if (offset <= previous) sorted = false;
    previous = offset;
    records.push({ offset, time, values, size: at - start });
  }
  if (!sorted) records.sort((a, b) => a.offset - b.offset);
  let capacity = 4;
  while (capacity < records.length) capacity *= 2;
  const log = new EntityLog(layout, capacity);
  for (const record of records) {
    if (record.offset <= log.maxOffset) continue;
    log.push(record.offset, record.time, record.values, record.size);
  }
  return log;
}
