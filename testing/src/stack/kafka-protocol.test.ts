import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, type Server, type Socket, createServer } from "node:net";
import {
  decodeApiVersionsV0,
  decodeMetadataV4,
  encodeRequest,
  probeKafka,
  requestApiVersions,
} from "./kafka-protocol.js";
import { StackError } from "./stack-error.js";

/** A Kafka-shaped server on port 0: hands each request frame to `answer`, which writes replies. */
async function fakeBroker(
  answer: (
    socket: Socket,
    request: { apiKey: number; version: number; correlationId: number },
  ) => void,
): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4 || buffered.length < 4 + buffered.readInt32BE(0)) return;
      answer(socket, {
        apiKey: buffered.readInt16BE(4),
        version: buffered.readInt16BE(6),
        correlationId: buffered.readInt32BE(8),
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, server };
}
const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

function frame(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  return Buffer.concat([head, body]);
}

function apiVersionsBody(ranges: [number, number, number][], errorCode = 0): Buffer {
  const body = Buffer.alloc(6 + 6 * ranges.length);
  body.writeInt16BE(errorCode, 0);
  body.writeInt32BE(ranges.length, 2);
  ranges.forEach(([key, min, max], i) => {
    body.writeInt16BE(key, 6 + 6 * i);
    body.writeInt16BE(min, 8 + 6 * i);
    body.writeInt16BE(max, 10 + 6 * i);
  });
  return body;
}

function str(value: string | null): Buffer {
  if (value === null) return Buffer.from([0xff, 0xff]);
  const bytes = Buffer.from(value, "utf8");
  const length = Buffer.alloc(2);
  length.writeInt16BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value, 0);
  return buffer;
}

function metadataBody(clusterId: string | null, controllerId: number, brokers: number): Buffer {
  const parts = [int32(0), int32(brokers)];
  for (let i = 0; i < brokers; i++)
    parts.push(int32(i + 1), str("127.0.0.1"), int32(9092), str(null));
  parts.push(str(clusterId), int32(controllerId), int32(0));
  return Buffer.concat(parts);
}

const RANGES: [number, number, number][] = [
  [0, 0, 11],
  [3, 0, 12],
  [18, 0, 4],
];

describe("encodeRequest", () => {
  test("size, then header v1: api key, version, correlation id, client id", () => {
    const bytes = encodeRequest(18, 0, 7, Buffer.alloc(0));
    assert.equal(bytes.readInt32BE(0), bytes.length - 4);
    assert.equal(bytes.readInt16BE(4), 18);
    assert.equal(bytes.readInt16BE(6), 0);
    assert.equal(bytes.readInt32BE(8), 7);
    assert.equal(bytes.toString("utf8", 14, 14 + bytes.readInt16BE(12)), "sluice-stack");
  });
});

describe("decoders", () => {
  test("ApiVersions v0: every range; a non-zero error code is reported", () => {
    assert.deepEqual(decodeApiVersionsV0(apiVersionsBody(RANGES)), [
      { apiKey: 0, minVersion: 0, maxVersion: 11 },
      { apiKey: 3, minVersion: 0, maxVersion: 12 },
      { apiKey: 18, minVersion: 0, maxVersion: 4 },
    ]);
    assert.throws(
      () => decodeApiVersionsV0(apiVersionsBody([], 35), "127.0.0.1:1"),
      /127\.0\.0\.1:1: expected ApiVersions error code 0, got 35/,
    );
  });

  test("Metadata v4: brokers, cluster id, controller", () => {
    assert.deepEqual(decodeMetadataV4(metadataBody("abc", 1, 1)), {
      clusterId: "abc",
      controllerId: 1,
      brokers: [{ nodeId: 1, host: "127.0.0.1", port: 9092 }],
    });
  });

  test("a truncated response says where it ends", () => {
    const body = metadataBody("abc", 1, 1).subarray(0, 10);
    assert.throws(
      () => decodeMetadataV4(body, "127.0.0.1:1"),
      /Metadata response from 127\.0\.0\.1:1: expected 4 more byte\(s\) at offset 8, got 2$/,
    );
  });
});

describe("probeKafka against a fake broker", () => {
  test("healthy: ApiVersions then Metadata with a controller", async () => {
    const { port } = await fakeBroker((socket, request) => {
      const body =
        request.apiKey === 18 ? apiVersionsBody(RANGES) : metadataBody("cluster-x", 1, 1);
      socket.write(frame(request.correlationId, body));
    });
    const probe = await probeKafka({ host: "127.0.0.1", port });
    assert.equal(probe.metadata.clusterId, "cluster-x");
    assert.equal(probe.apiVersions.length, 3);
  });

  test("a broker without an active controller is not healthy yet", async () => {
    const { port } = await fakeBroker((socket, request) => {
      const body = request.apiKey === 18 ? apiVersionsBody(RANGES) : metadataBody("c", -1, 1);
      socket.write(frame(request.correlationId, body));
    });
    await assert.rejects(probeKafka({ host: "127.0.0.1", port }), (error: unknown) => {
      assert.ok(error instanceof StackError);
      assert.equal(error.code, "unhealthy");
      assert.match(
        error.message,
        /expected a broker with an active controller, got controller -1 and 1 broker\(s\)/,
      );
      return true;
    });
  });

  test("something else on the port (an HTTP server) is named as such", async () => {
    const { port } = await fakeBroker((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await assert.rejects(requestApiVersions({ host: "127.0.0.1", port }), /is this port Kafka\?/);
  });

  test("a silent listener times out with what was expected", async () => {
    const { port } = await fakeBroker(() => undefined);
    await assert.rejects(requestApiVersions({ host: "127.0.0.1", port }, 200), (error: unknown) => {
      assert.ok(error instanceof StackError);
      assert.equal(error.code, "timeout");
      assert.match(
        error.message,
        /expected a Kafka answer to API 18 v0 within 200 ms, got 0 byte\(s\)/,
      );
      return true;
    });
  });

  test("nothing listening: the connection error", async () => {
    const { port, server } = await fakeBroker(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    await assert.rejects(requestApiVersions({ host: "127.0.0.1", port }), /ECONNREFUSED/);
  });
});
