/**
 * A grpc-js server on 127.0.0.1:0 that implements only the RPCs a test gives it (the others answer
 * UNIMPLEMENTED): for client and CLI tests that need exact answers, errors included, without a
 * real sidecar.
 */
import { Server, ServerCredentials, status, type Metadata } from "@grpc/grpc-js";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import {
  GRPCInferenceService,
  grpcServiceDefinition,
  type GrpcServiceImplementation,
} from "@sluice/proto";

type Methods<S> = S extends GenService<infer M> ? M : never;
export type InferenceImpl = Partial<
  GrpcServiceImplementation<Methods<typeof GRPCInferenceService>>
>;

export interface StubServer {
  /** host:port to connect to. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startStubServer(implementation: InferenceImpl): Promise<StubServer> {
  const server = new Server();
  server.addService(grpcServiceDefinition(GRPCInferenceService), implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return {
    url: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** The stub's repository handlers answer UNAUTHENTICATED without this token. */
export const STUB_ADMIN_TOKEN = "s3cret-token";

export function authorized(metadata: Metadata): boolean {
  return metadata.get("authorization")[0] === `Bearer ${STUB_ADMIN_TOKEN}`;
}

export function unauthenticated(): { code: status; details: string } {
  return { code: status.UNAUTHENTICATED, details: "repository calls need the admin token" };
}
