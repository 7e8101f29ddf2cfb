/**
 * Just enough of the Kafka wire protocol for a health check, with no Kafka client library: one
 * ApiVersions v0 and one Metadata v4 request, each on its own short-lived connection. Both versions
 * are non-flexible (no tagged fields) and answered by every broker from 2.x to 4.x.
 */
import { StackError } from "./stack-error.js";
import { exchange } from "./socket-exchange.js";
import { formatHostPort, type HostPort } from "./stack-options.js";

export const API_KEY_METADATA = 3;
export const API_KEY_API_VERSIONS = 18;
const CLIENT_ID = "sluice-stack";
// Health answers are a few hundred bytes; anything this large is not a Kafka broker talking.
const MAX_RESPONSE_BYTES = 1 << 20;

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

export interface KafkaMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: { nodeId: number; host: string; port: number }[];
}

/** What a healthy broker says: the API versions it speaks, and its cluster as Metadata shows it. */
export interface KafkaProbe {
  apiVersions: ApiVersionRange[];
  metadata: KafkaMetadata;
}

/**
 * ApiVersions then Metadata against one broker. Resolves only when the broker answers both, knows
 * its controller and lists at least one broker: a KRaft broker that still waits for its controller
 * accepts connections but reports no controller. Rejects saying what was expected and what came.
 */
export async function probeKafka(address: HostPort, timeoutMs = 5_000): Promise<KafkaProbe> {
  const apiVersions = await requestApiVersions(address, timeoutMs);
  const metadataRange = apiVersions.find((range) => range.apiKey === API_KEY_METADATA);
  if (metadataRange === undefined || metadataRange.minVersion > 4 || metadataRange.maxVersion < 4) {
    throw new StackError(
      "unhealthy",
      `${formatHostPort(address)}: expected a broker that speaks Metadata v4, got ${metadataRange === undefined ? "no Metadata API" : `Metadata v${metadataRange.minVersion}-v${metadataRange.maxVersion}`}`,
    );
  }
  const metadata = await requestMetadata(address, timeoutMs);
  if (metadata.controllerId < 0 || metadata.brokers.length === 0) {
    throw new StackError(
      "unhealthy",
      `${formatHostPort(address)}: expected a broker with an active controller, got controller ${metadata.controllerId} and ${metadata.brokers.length} broker(s)`,
    );
  }
  return { apiVersions, metadata };
}

/** ApiVersions v0: the API keys the broker serves, each with its version range. */
export async function requestApiVersions(
  address: HostPort,
  timeoutMs = 5_000,
): Promise<ApiVersionRange[]> {
  const body = await roundTrip(address, API_KEY_API_VERSIONS, 0, Buffer.alloc(0), timeoutMs);
  return decodeApiVersionsV0(body, formatHostPort(address));
}

/** Metadata v4 for no topics: the brokers, the cluster id and the active controller. */
export async function requestMetadata(
  address: HostPort,
  timeoutMs = 5_000,
): Promise<KafkaMetadata> {
  // topics: an empty array (not null, which means all topics); allow_auto_topic_creation: false.
  const request = Buffer.from([0, 0, 0, 0, 0]);
  const body = await roundTrip(address, API_KEY_METADATA, 4, request, timeoutMs);
  return decodeMetadataV4(body, formatHostPort(address));
}

/** Frames a request with header v1 (api key, version, correlation id, client id). */
export function encodeRequest(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: Buffer,
): Buffer {
  const clientId = Buffer.from(CLIENT_ID, "utf8");
  const header = Buffer.alloc(10 + clientId.length);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  clientId.copy(header, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length, 0);
  return Buffer.concat([size, header, body]);
}

/** Decodes an ApiVersions v0 response body (after the correlation id). */
export function decodeApiVersionsV0(body: Buffer, from = "broker"): ApiVersionRange[] {
  const reader = new Reader(body, `ApiVersions response from ${from}`);
  const errorCode = reader.int16();
  if (errorCode !== 0) {
    throw new StackError(
      "unhealthy",
      `${from}: expected ApiVersions error code 0, got ${errorCode}`,
    );
  }
  const count = reader.int32();
  const ranges: ApiVersionRange[] = [];
  for (let i = 0; i < count; i++) {
    ranges.push({ apiKey: reader.int16(), minVersion: reader.int16(), maxVersion: reader.int16() });
  }
  return ranges;
}

/** Decodes a Metadata v4 response body (after the correlation id); topics are not read. */
export function decodeMetadataV4(body: Buffer, from = "broker"): KafkaMetadata {
  const reader = new Reader(body, `Metadata response from ${from}`);
  reader.int32(); // throttle_time_ms
  const brokers: KafkaMetadata["brokers"] = [];
  const count = reader.int32();
  for (let i = 0; i < count; i++) {
    const nodeId = reader.int32();
    const host = reader.string() ?? "";
    const port = reader.int32();
    reader.string(); // rack
    brokers.push({ nodeId, host, port });
  }
  const clusterId = reader.string();
  const controllerId = reader.int32();
  return { clusterId, controllerId, brokers };
}

/** Sends one request on a fresh connection and resolves with the response body after its header. */
async function roundTrip(
  address: HostPort,
  apiKey: number,
  apiVersion: number,
  body: Buffer,
  timeoutMs: number,
): Promise<Buffer> {
  const correlationId = Math.floor(Math.random() * 0x7fffffff);
  const where = formatHostPort(address);
  const expected = `a Kafka answer to API ${apiKey} v${apiVersion}`;
  return exchange(address, {
    request: encodeRequest(apiKey, apiVersion, correlationId, body),
    timeoutMs,
    read: (received) => {
      if (received.length < 4) return undefined;
      const size = received.readInt32BE(0);
      if (size < 4 || size > MAX_RESPONSE_BYTES) {
        throw new StackError(
          "unhealthy",
          `${where}: expected a Kafka response frame, got a size of ${size} bytes: is this port Kafka?`,
        );
      }
      if (received.length < 4 + size) return undefined;
      const got = received.readInt32BE(4);
      if (got !== correlationId) {
        throw new StackError(
          "unhealthy",
          `${where}: expected correlation id ${correlationId}, got ${got}`,
        );
      }
      return received.subarray(8, 4 + size);
    },
    timedOut: (received) =>
      `expected ${expected} within ${timeoutMs} ms, got ${received.length} byte(s)`,
    closed: (received) =>
      `expected ${expected}, got the connection closed after ${received.length} byte(s)`,
  });
}

/** Bounds-checked big-endian reads; running past the end says which response was cut short. */
class Reader {
  private offset = 0;

  constructor(
    private readonly buffer: Buffer,
    private readonly what: string,
  ) {}

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A nullable string: int16 length (-1 for null), then UTF-8 bytes. */
  string(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    this.need(length);
    const value = this.buffer.toString("utf8", this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) {
      throw new StackError(
        "unhealthy",
        `${this.what}: expected ${bytes} more byte(s) at offset ${this.offset}, got ${this.buffer.length - this.offset}`,
      );
    }
  }
}
