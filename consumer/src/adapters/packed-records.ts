/**
 * Output records packed into one buffer for the producer thread (`PlatformaticThreadProducer`):
 * a micro-batch crosses to the thread as one run of bytes, where structured cloning would copy
 * each record's objects, and each key's whole fetch buffer with it. The thread reads the records
 * back as the producer's messages, their keys, values and header values views of those bytes.
 *
 * Per record, little-endian: topic (u16, an index into `strings`), key and value (i32 length, −1
 * for null, then the bytes), header count (u16), then per header its name (u16, an index into
 * `strings`) and value (i32 length then the bytes; −2 for the value last written for this name:
 * the source topic, partition and model version repeat on every record of a micro-batch). Strings
 * are UTF-8.
 */
import type { MessageToProduce } from "@platformatic/kafka";
import type { HeaderValue, OutputRecord } from "../ports/kafka.js";
import { headerName } from "./platformatic-records.js";

export interface PackedRecords {
  /** The packed records and nothing else. */
  readonly bytes: Uint8Array;
  readonly count: number;
  /** The topics and header names, by index. */
  readonly strings: readonly string[];
}

const NULL = -1;
const SAME_AS_BEFORE = -2;
/** Room for a header's fixed fields: name index, value length. */
const HEADER_FIXED = 2 + 4;
const MAX_INDEX = 0xffff;
const INITIAL_BYTES = 64 * 1024;

/**
 * Packs records into its buffer, which grows to the largest micro-batch: what `pack` returns is
 * a view of it, good until the next call.
 */
export class RecordPacker {
  #scratch = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  #at = 0;

  pack(records: readonly OutputRecord[]): PackedRecords {
    const strings: string[] = [];
    const indexes = new Map<string, number>();
    const index = (text: string): number => {
      let found = indexes.get(text);
      if (found === undefined) {
        found = strings.length;
        if (found > MAX_INDEX) {
          throw new RangeError(
            `packing records: more than ${MAX_INDEX + 1} topics and header names`,
          );
        }
        strings.push(text);
        indexes.set(text, found);
      }
      return found;
    };
    /** Per header name index, the value last written for it. */
    const before: (HeaderValue | undefined)[] = [];
    this.#at = 0;
    for (const record of records) {
      this.#reserve(2);
      this.#u16(index(record.topic));
      this.#bytes(record.key);
      this.#bytes(record.value);
      this.#reserve(2);
      const countAt = this.#at;
      this.#at += 2;
      let count = 0;
      for (const name in record.headers) {
        const value = record.headers[name];
        if (value === undefined) continue;
        const nameIndex = index(name);
        if (Array.isArray(value)) {
          for (const item of value) this.#header(nameIndex, item, before);
          count += value.length;
        } else {
          this.#header(nameIndex, value, before);
          count++;
        }
      }
      if (count > MAX_INDEX) {
        throw new RangeError(
          `packing records: a record with ${count} headers (at most ${MAX_INDEX})`,
        );
      }
      this.#scratch.writeUInt16LE(count, countAt);
    }
    return { bytes: this.#scratch.subarray(0, this.#at), count: records.length, strings };
  }

  #header(nameIndex: number, value: HeaderValue, before: (HeaderValue | undefined)[]): void {
    this.#reserve(HEADER_FIXED);
    this.#u16(nameIndex);
    if (before[nameIndex] === value) {
      this.#i32(SAME_AS_BEFORE);
    } else {
      before[nameIndex] = value;
      this.#bytes(value);
    }
  }

  #bytes(value: Buffer | string | null): void {
    if (value === null) {
      this.#i32(NULL);
      return;
    }
    if (typeof value === "string") {
      // UTF-8 takes at most three bytes per UTF-16 unit.
      if (this.#scratch.length - this.#at < 4 + value.length * 3) {
        this.#reserve(4 + Buffer.byteLength(value));
      }
      const length = this.#scratch.write(value, this.#at + 4);
      this.#i32(length);
      this.#at += length;
      return;
    }
    this.#reserve(4 + value.length);
    this.#i32(value.length);
    this.#scratch.set(value, this.#at);
    this.#at += value.length;
  }

  #u16(value: number): void {
    this.#at = this.#scratch.writeUInt16LE(value, this.#at);
  }

  #i32(value: number): void {
    this.#at = this.#scratch.writeInt32LE(value, this.#at);
  }

  /** Makes room for `bytes` more after the current position. */
  #reserve(bytes: number): void {
    const needed = this.#at + bytes;
    if (needed <= this.#scratch.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.#scratch.length * 2));
    this.#scratch.copy(grown, 0, 0, this.#at);
    this.#scratch = grown;
  }
}

/**
 * The producer's messages of `packed`, as `toMessage` makes them from the records: header values
 * are Buffers, and a name repeated in a record gets a Buffer per repeat (Map keys are compared by
 * identity). Header names' Buffers are kept across calls as `toMessage` keeps them (`headerName`),
 * in `names` when given.
 */
export function unpackMessages(
  packed: PackedRecords,
  names?: Map<string, Buffer>,
): MessageToProduce[] {
  const { bytes: view } = packed;
  const buffer = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  const nameBuffers = packed.strings.map((name) => headerName(name, names));
  const before: Buffer[] = [];
  const messages = new Array<MessageToProduce>(packed.count);
  let at = 0;
  const bytes = (): Buffer | undefined => {
    const length = buffer.readInt32LE(at);
    at += 4;
    if (length === NULL) return undefined;
    const view = buffer.subarray(at, at + length);
    at += length;
    return view;
  };
  for (let i = 0; i < packed.count; i++) {
    const topic = packed.strings[buffer.readUInt16LE(at)]!;
    at += 2;
    const key = bytes();
    const value = bytes();
    const count = buffer.readUInt16LE(at);
    at += 2;
    let headers: Map<Buffer, Buffer> | undefined;
    for (let h = 0; h < count; h++) {
      const nameIndex = buffer.readUInt16LE(at);
      at += 2;
      let headerValue: Buffer;
      if (buffer.readInt32LE(at) === SAME_AS_BEFORE) {
        at += 4;
        headerValue = before[nameIndex]!;
      } else {
        headerValue = bytes()!;
        before[nameIndex] = headerValue;
      }
      headers ??= new Map();
      const name = nameBuffers[nameIndex]!;
      headers.set(headers.has(name) ? Buffer.from(packed.strings[nameIndex]!) : name, headerValue);
    }
    messages[i] = { topic, key, value, ...(headers === undefined ? {} : { headers }) };
  }
  if (at !== buffer.length) {
    throw new RangeError(
      `unpacking ${packed.count} records: expected ${buffer.length} bytes, read ${at}`,
    );
  }
  return messages;
}
