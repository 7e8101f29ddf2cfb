/**
 * Records between the pipeline's shapes and @platformatic/kafka's: fetched record batches to
 * `InputRecord`s (no intermediate message object, no Map of headers), and `OutputRecord`s to the
 * messages its producer takes, placed on partitions the way Java, librdkafka and kafkajs place them.
 */
import { IS_CONTROL, type MessageToProduce, type RecordsBatch } from "@platformatic/kafka";
import type { HeaderValue, InputRecord, OutputRecord, RecordHeaders } from "../ports/kafka.js";

/** Kafka's error code for a fetch offset before the log's start or after its end. */
export const OFFSET_OUT_OF_RANGE = 1;
/** Kafka's own default (max.partition.fetch.bytes): what one partition may bring per fetch. */
export const PARTITION_MAX_BYTES = 1024 * 1024;
/** Kafka's own default (fetch.max.bytes): one fetch response at most. */
export const FETCH_MAX_BYTES = 50 * 1024 * 1024;

/** Shared by every record without headers: the pipeline only reads input headers. */
const NO_HEADERS: RecordHeaders = Object.freeze({});
const EMPTY = Buffer.alloc(0);

/**
 * Appends the records of `batches` at or after `from` to `into`, skipping transaction markers.
 * Returns the offset after the last batch (markers included): where the next fetch starts.
 * Offsets and timestamps are numbers here (exact below 2^53) and decimal text in the records.
 */
export function appendRecords(
  batches: readonly RecordsBatch[],
  from: bigint,
  into: InputRecord[],
): bigint {
  let next = from;
  const first = Number(from);
  for (const batch of batches) {
    const end = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
    // A fetch returns whole batches: the first may start before the requested offset.
    if (end <= from) continue;
    next = end;
    if ((batch.attributes & IS_CONTROL) !== 0) continue;
    const base = Number(batch.firstOffset);
    const time = Number(batch.firstTimestamp);
    for (const record of batch.records) {
      const offset = base + record.offsetDelta;
      if (offset < first) continue;
      into.push({
        offset: String(offset),
        key: record.key,
        value: record.value,
        headers: record.headers.length === 0 ? NO_HEADERS : toHeaders(record.headers),
        timestamp: String(time + Number(record.timestampDelta)),
      });
    }
  }
  return next;
}

/** Kafka's header list as the ports' object; a name that repeats gets an array of its values. */
function toHeaders(raw: readonly (readonly [Buffer | null, Buffer | null])[]): RecordHeaders {
  const headers: Record<string, HeaderValue | HeaderValue[]> = {};
  for (const [name, value] of raw) {
    if (name === null) continue;
    const key = name.toString();
    const item = value ?? EMPTY;
    const seen = headers[key];
    if (seen === undefined) headers[key] = item;
    else if (Array.isArray(seen)) seen.push(item);
    else headers[key] = [seen, item];
  }
  return headers;
}

/** Header names repeat on every record (sluice-source-topic, …): one Buffer each, reused. */
const NAMES = new Map<string, Buffer>();
const MAX_CACHED_NAMES = 256;

/**
 * `name` as a Buffer, kept in `cache` for the first `MAX_CACHED_NAMES` names: dead letters carry
 * their input's headers, whose names are anyone's.
 */
export function headerName(name: string, cache: Map<string, Buffer> = NAMES): Buffer {
  let buffer = cache.get(name);
  if (buffer === undefined) {
    buffer = Buffer.from(name);
    if (cache.size < MAX_CACHED_NAMES) cache.set(name, buffer);
  }
  return buffer;
}

function toBuffer(value: Buffer | string): Buffer {
  return typeof value === "string" ? Buffer.from(value) : value;
}

/**
 * The last value encoded for each header name. The source topic, partition and model version
 * repeat on every record of a micro-batch: encoding them once per change instead of once per record
 * saves a Buffer each. The producer only reads the Buffers, so records may share one.
 */
const LAST_VALUES = new Map<string, { text: string; buffer: Buffer }>();

function headerValue(name: string, value: Buffer | string): Buffer {
  if (typeof value !== "string") return value;
  const last = LAST_VALUES.get(name);
  if (last !== undefined) {
    if (last.text === value) return last.buffer;
    last.text = value;
    last.buffer = Buffer.from(value);
    return last.buffer;
  }
  const buffer = Buffer.from(value);
  if (LAST_VALUES.size < MAX_CACHED_NAMES) LAST_VALUES.set(name, { text: value, buffer });
  return buffer;
}

/**
 * The producer's message for `record`. Header values are Buffers (its default serializers pass
 * bytes through); a name with several values gets one entry per value: Map keys are compared by
 * identity, so each repeat gets its own Buffer.
 */
export function toMessage(record: OutputRecord): MessageToProduce {
  let headers: Map<Buffer, Buffer> | undefined;
  for (const name in record.headers) {
    const value = record.headers[name];
    if (value === undefined) continue;
    headers ??= new Map();
    if (Array.isArray(value)) {
      for (const item of value) headers.set(Buffer.from(name), toBuffer(item));
    } else {
      headers.set(headerName(name), headerValue(name, value));
    }
  }
  return {
    topic: record.topic,
    key: record.key === null ? undefined : toBuffer(record.key),
    value: record.value === null ? undefined : toBuffer(record.value),
    ...(headers === undefined ? {} : { headers }),
  };
}

/** MurmurHash2's mixing constants and seed, as Kafka's `Utils.murmur2` uses them. */
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_SEED = 0x9747b28c;

/**
 * Kafka's `Utils.murmur2` (MurmurHash2, 32 bits, little-endian words) of `data`, as a signed
 * 32-bit integer. Written with `Math.imul` on 32-bit integers: @platformatic/kafka's own
 * `murmur2` computes it in BigInt, which at the maximum drain cost about 4 % of the consumer's
 * thread for a key of a dozen bytes per prediction record.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = MURMUR2_SEED ^ length;
  const words = length & ~3;
  for (let i = 0; i < words; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[words + 2]! << 16;
    if (tail >= 2) h ^= data[words + 1]! << 8;
    h ^= data[words]!;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Java's default partitioner for keyed records (murmur2 of the key, made positive, modulo the
 * partition count, which the producer applies): a key lands on the partition a Java, librdkafka
 * or kafkajs producer would pick, so per-key order holds across clients and a switch of client.
 * Records without a key rotate over the partitions instead of all landing on the first.
 */
export function keyPartitioner(): (message: unknown, key: Buffer | undefined) => number {
  let next = 0;
  return (_message, key) =>
    Buffer.isBuffer(key) ? murmur2(key) & 0x7fffffff : (next = (next + 1) & 0x7fffffff);
}
