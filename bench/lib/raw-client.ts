/**
 * The load generator's clients: they send pre-encoded ModelInferRequest bytes and keep the response
 * bytes undecoded, so per request the client does only what any gRPC client must (HTTP/2 framing,
 * a deadline) and as little of a small machine's CPU as possible goes to the load generator.
 *
 * Two transports: node:http2 with gRPC framing (default, the cheaper one; see h2-client.ts) and a
 * bare grpc-js Client (`--client grpc-js`), which is what @sluice/client builds on. Calls that read
 * the answer (ModelStatistics, the response check) always go through grpc-js.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  ModelInferResponseSchema,
  ModelStatisticsRequestSchema,
  ModelStatisticsResponseSchema,
  type ModelInferResponse,
  type ModelStatisticsResponse,
} from "@sluice/proto";
import { H2UnaryClient } from "./h2-client.js";

export const CLIENT_KINDS = ["http2", "grpc-js"] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

const MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer";
const MODEL_STATISTICS = "/inference.GRPCInferenceService/ModelStatistics";
/** Every real client sets a deadline (the Sluice client always does); this one is long enough never to fire. */
const DEADLINE_MS = 30_000;
/** 256-row requests and responses stay far below this. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const identity = (bytes: Buffer): Buffer => bytes;

function grpcClient(target: string): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    // Without a local pool, clients with equal options share one connection.
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
}

function grpcUnary<T>(
  client: grpc.Client,
  path: string,
  request: Buffer,
  decode: (bytes: Buffer) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Buffer, T>(
      path,
      identity,
      decode,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (error, response) => (error ? reject(error) : resolve(response!)),
    );
  });
}

export class RawInferClients {
  private readonly http2: H2UnaryClient[] = [];
  private readonly grpc: grpc.Client[] = [];
  /** For calls whose answer is read. */
  private readonly control: grpc.Client;

  /**
   * `connections` separate HTTP/2 connections to `target` (as that many client processes would
   * open); loop `i` uses connection `i % connections`.
   */
  constructor(
    target: string,
    connections: number,
    readonly kind: ClientKind,
  ) {
    for (let i = 0; i < connections; i++) {
      if (kind === "http2") this.http2.push(new H2UnaryClient(target));
      else this.grpc.push(grpcClient(target));
    }
    this.control = grpcClient(target);
  }

  /** Resolves once every connection is up, so the first measured requests pay no handshake. */
  async connect(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all([
      ...this.http2.map((client) => client.connect()),
      ...[...this.grpc, this.control].map(
        (client) =>
          new Promise<void>((resolve, reject) =>
            client.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
          ),
      ),
    ]);
  }

  /** Sends encoded request bytes on loop `loop`'s connection; resolves to the encoded response. */
  infer(loop: number, request: Buffer): Promise<Buffer> {
    if (this.kind === "http2")
      return this.http2[loop % this.http2.length]!.unary(MODEL_INFER, request);
    return grpcUnary(this.grpc[loop % this.grpc.length]!, MODEL_INFER, request, identity);
  }

  /** One decoded ModelInfer response, through the load's transport (to check what the server answers). */
  async inferDecoded(request: Buffer): Promise<{ bytes: Buffer; response: ModelInferResponse }> {
    const bytes = await this.infer(0, request);
    return { bytes, response: fromBinary(ModelInferResponseSchema, bytes) };
  }

  /** Triton's statistics extension for `model` (every version when `version` is ""). */
  statistics(model: string, version = ""): Promise<ModelStatisticsResponse> {
    const request = toBinary(
      ModelStatisticsRequestSchema,
      create(ModelStatisticsRequestSchema, { name: model, version }),
    );
    return grpcUnary(this.control, MODEL_STATISTICS, Buffer.from(request), (bytes) =>
      fromBinary(ModelStatisticsResponseSchema, bytes),
    );
  }

  close(): void {
    for (const client of this.http2) client.close();
    for (const client of [...this.grpc, this.control]) client.close();
  }
}
