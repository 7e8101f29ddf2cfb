import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { Server, ServerCredentials, status, type Metadata } from "@grpc/grpc-js";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { create } from "@bufbuild/protobuf";
import {
  GRPCInferenceService,
  RepositoryModelUnloadResponseSchema,
  grpcServiceDefinition,
  type GrpcServiceImplementation,
} from "@sluice/proto";
import { registerUnload } from "./unload.js";

/** Runs the command as main.ts would: exitOverride, output captured. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const program = new Command("sluice")
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (err += text) });
  registerUnload(program);
  try {
    await program.parseAsync(args, { from: "user" });
    return { code: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, out, err };
    return { code: 1, out, err: `${err}error: ${(error as Error).message}\n` };
  }
}

let server: Server;
let url: string;

type Methods<S> = S extends GenService<infer M> ? M : never;
type InferenceImpl = Partial<GrpcServiceImplementation<Methods<typeof GRPCInferenceService>>>;

async function serve(implementation: InferenceImpl): Promise<void> {
  server = new Server();
  server.addService(grpcServiceDefinition(GRPCInferenceService), implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  url = `127.0.0.1:${port}`;
}

after(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));

/** The server's repository handlers answer UNAUTHENTICATED without this token. */
const TOKEN = "s3cret-token";

function authorized(metadata: Metadata): boolean {
  return metadata.get("authorization")[0] === `Bearer ${TOKEN}`;
}

function unauthenticated(): { code: status; details: string } {
  return { code: status.UNAUTHENTICATED, details: "repository calls need the admin token" };
}

const unloaded: { modelName: string; dependents: unknown }[] = [];

before(() =>
  serve({
    repositoryModelUnload: (call, callback) => {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      const { modelName, parameters } = call.request;
      unloaded.push({
        modelName,
        dependents: parameters["unload_dependents"]?.parameterChoice.value,
      });
      callback(null, create(RepositoryModelUnloadResponseSchema));
    },
  }),
);

describe("sluice unload", () => {
  test("unloads the model; --unload-dependents is sent as Triton's parameter", async () => {
    assert.deepEqual(await run("unload", "fraud", "--url", url, "--token", TOKEN), {
      code: 0,
      out: "unloaded fraud\n",
      err: "",
    });
    await run("unload", "fraud", "--unload-dependents", "--url", url, "--token", TOKEN);
    assert.deepEqual(unloaded, [
      { modelName: "fraud", dependents: undefined },
      { modelName: "fraud", dependents: true },
    ]);
  });

  test("--help shows the usage and an example", () => {
    let help = "";
    const program = new Command("sluice").configureOutput({ writeOut: (text) => (help += text) });
    registerUnload(program);
    program.commands.find((command) => command.name() === "unload")?.outputHelp();
    assert.match(help, /Usage: sluice unload \[options\] <model>/);
    assert.match(help, /--unload-dependents/);
    assert.match(help, /Examples:\n {2}\$ SLUICE_ADMIN_TOKEN=s3cret-token sluice unload fraud/);
  });
});
