/**
 * Test support for the client commands: the real `sluice` program with its output captured, and a
 * grpc-js server on 127.0.0.1:0 that implements only the RPCs a test needs.
 */
import { CommanderError } from "commander";
import { Server, ServerCredentials, status, type Metadata } from "@grpc/grpc-js";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import {
  GRPCInferenceService,
  grpcServiceDefinition,
  type GrpcServiceImplementation,
} from "@sluice/proto";
import { createProgram } from "../program.js";

/** Runs the program as main.ts would: exit codes from commander, output captured. */
export async function runCli(
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const program = createProgram({
    writeOut: (text) => (out += text),
    writeErr: (text) => (err += text),
  });
  try {
    await program.parseAsync(args, { from: "user" });
    return { code: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, out, err };
    return { code: 1, out, err: `${err}error: ${(error as Error).message}\n` };
  }
}

type Methods<S> = S extends GenService<infer M> ? M : never;
export type InferenceImpl = Partial<
  GrpcServiceImplementation<Methods<typeof GRPCInferenceService>>
>;

/** A server with only `implementation`'s RPCs; the others answer UNIMPLEMENTED. */
export async function startTestServer(
  implementation: InferenceImpl,
): Promise<{ url: string; close: () => Promise<void> }> {
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

/** The test servers' repository handlers answer UNAUTHENTICATED without this token. */
export const TOKEN = "s3cret-token";

export function authorized(metadata: Metadata): boolean {
  return metadata.get("authorization")[0] === `Bearer ${TOKEN}`;
}

export function unauthenticated(): { code: status; details: string } {
  return { code: status.UNAUTHENTICATED, details: "repository calls need the admin token" };
}
