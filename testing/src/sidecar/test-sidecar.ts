/**
 * Test support: a real sidecar on a loopback port 0 with a model repository copied into a temp
 * folder (so tests may add, corrupt or remove versions), and a protocol-level gRPC client that
 * sends exactly the messages a test builds — no Sluice client logic in between.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  GRPCInferenceService,
  ModelInferRequestSchema,
  grpcServiceDefinition,
  type ModelInferResponse,
} from "@sluice/proto";
import { startSidecar, type Sidecar, type SidecarOptions } from "@sluice/server";

/** Logs of the sidecar under test are kept quiet unless SLUICE_TEST_LOG is set. */
const LOG_LEVEL = process.env["SLUICE_TEST_LOG"] ?? "silent";

export interface TestRepository {
  readonly dir: string;
  remove(): Promise<void>;
}

/** Copies the named models (from fixtures or examples) into a fresh temp repository. */
export async function makeRepository(models: Record<string, string>): Promise<TestRepository> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-repo-"));
  for (const [name, source] of Object.entries(models)) {
    await cp(source, join(dir, name), { recursive: true });
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function startTestSidecar(
  options: Partial<SidecarOptions> & { modelRepository: string },
): Promise<Sidecar> {
  return startSidecar({
    host: "127.0.0.1",
    grpcPort: 0,
    metricsPort: 0,
    logLevel: LOG_LEVEL,
    ...options,
  });
}

type Unary = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

const InferenceClientConstructor = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(GRPCInferenceService),
  "GRPCInferenceService",
);

/** A bare protocol client: `call("modelInfer", message)` resolves to the response message. */
export class ProtocolClient {
  readonly client: grpc.Client;

  constructor(
    target: string,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    options: grpc.ChannelOptions = {},
  ) {
    this.client = new InferenceClientConstructor(target, credentials, options);
  }

  call<T = unknown>(
    method: string,
    request: object,
    options: { metadata?: grpc.Metadata; deadlineMs?: number } = {},
  ): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method];
    const descriptor = GRPCInferenceService.methods.find((m) => m.localName === method);
    if (fn === undefined || descriptor === undefined) throw new Error(`no method ${method}`);
    const message = "$typeName" in request ? request : create(descriptor.input, request as never);
    const callOptions: grpc.CallOptions = options.deadlineMs
      ? { deadline: Date.now() + options.deadlineMs }
      : {};
    return new Promise((resolve, reject) => {
      fn.call(
        this.client,
        message,
        options.metadata ?? new grpc.Metadata(),
        callOptions,
        (error, response) => (error ? reject(error) : resolve(response as T)),
      );
    });
  }

  infer(
    request: MessageInitShape<typeof ModelInferRequestSchema>,
    options?: { metadata?: grpc.Metadata; deadlineMs?: number },
  ): Promise<ModelInferResponse> {
    return this.call<ModelInferResponse>(
      "modelInfer",
      create(ModelInferRequestSchema, request),
      options,
    );
  }

  close(): void {
    this.client.close();
  }
}

/** A test sidecar serving a repository, with a protocol client to it. */
export interface ServedRepository {
  readonly sidecar: Sidecar;
  readonly client: ProtocolClient;
  /** Closes the client and the sidecar, then removes the repository. */
  close(): Promise<void>;
}

/** Starts a test sidecar on `repository` and connects a protocol client to it. */
export async function serveRepository(
  repository: TestRepository,
  options: Partial<SidecarOptions> = {},
): Promise<ServedRepository> {
  const sidecar = await startTestSidecar({ ...options, modelRepository: repository.dir });
  const client = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`);
  return {
    sidecar,
    client,
    close: async () => {
      client.close();
      await sidecar.close();
      await repository.remove();
    },
  };
}

/** Raw little-endian bytes of a typed array (a copy that owns its buffer). */
export function raw(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

/** A Float32Array over raw output bytes (copied so alignment never matters). */
export function f32(bytes: Uint8Array | undefined): Float32Array {
  if (bytes === undefined) throw new Error("no raw output");
  return new Float32Array(Uint8Array.prototype.slice.call(bytes).buffer);
}

export function i64(bytes: Uint8Array | undefined): BigInt64Array {
  if (bytes === undefined) throw new Error("no raw output");
  return new BigInt64Array(Uint8Array.prototype.slice.call(bytes).buffer);
}

/** The gRPC status of a rejected call (fails the test if the call succeeded). */
export async function statusOf(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}
