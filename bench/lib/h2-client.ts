/**
 * A minimal gRPC client for unary calls on node:http2: one POST per call with the gRPC headers, a
 * length-prefixed message, and the status read from the trailers. It sends what grpc-js sends (the
 * same headers, a `grpc-timeout` deadline), so the server does identical work, but costs the load
 * generator about half the CPU per call of grpc-js's client (channel, interceptors, filters and
 * timers per call). On a 2-core machine the client's CPU is taken from the server: the cheaper the
 * client, the closer the figures get to the server's own ceiling.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from "node:http2";

/** Matches grpc-js's default; the server reads it for the call's deadline, like any real client's. */
const TIMEOUT_HEADER = "30S";
const USER_AGENT = "sluice-bench/0.1 (node:http2)";
/** gRPC message prefix: 1 byte compression flag, 4 bytes big-endian length. */
const PREFIX_BYTES = 5;

export class GrpcCallError extends Error {
  override readonly name = "GrpcCallError";
  constructor(
    readonly code: number,
    details: string,
  ) {
    super(`gRPC status ${code}: ${details}`);
  }
}

export class H2UnaryClient {
  private readonly session: ClientHttp2Session;
  private readonly ready: Promise<void>;

  constructor(target: string) {
    this.session = connect(`http://${target}`, {
      // Like grpc-js: no per-stream flow-control stalls on 256-row requests.
      settings: { initialWindowSize: 1 << 20 },
    });
    this.ready = new Promise((resolve, reject) => {
      this.session.once("connect", () => resolve());
      this.session.once("error", reject);
    });
    // A failing session rejects the calls on it; the session error itself needs no listener then.
    this.ready.catch(() => undefined);
  }

  connect(): Promise<void> {
    return this.ready;
  }

  /** Calls `path` with an encoded request; resolves to the encoded response message. */
  unary(path: string, request: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
        [constants.HTTP2_HEADER_TE]: "trailers",
        [constants.HTTP2_HEADER_USER_AGENT]: USER_AGENT,
        "grpc-accept-encoding": "identity",
        "grpc-timeout": TIMEOUT_HEADER,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let details = "";
      const takeStatus = (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
        const code = headers["grpc-status"];
        if (code !== undefined) {
          status = String(code);
          details = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        }
      };
      // A trailers-only response (errors) carries the status in the headers.
      stream.on("response", takeStatus);
      stream.on("trailers", takeStatus);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("close", () => {
        if (status !== "0") {
          reject(
            new GrpcCallError(
              Number(status ?? 2),
              status === undefined ? `no status (stream closed, code ${stream.rstCode})` : details,
            ),
          );
          return;
        }
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < PREFIX_BYTES || body.readUInt32BE(1) !== body.length - PREFIX_BYTES) {
          reject(
            new GrpcCallError(13, `expected one length-prefixed message, got ${body.length} bytes`),
          );
          return;
        }
        resolve(body.subarray(PREFIX_BYTES));
      });
      const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
      prefix[0] = 0;
      prefix.writeUInt32BE(request.length, 1);
      stream.end(Buffer.concat([prefix, request]));
    });
  }

  close(): void {
    this.session.close();
  }
}
