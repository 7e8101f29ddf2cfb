import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { Server, ServerCredentials, status, type Metadata } from "@grpc/grpc-js";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { create } from "@bufbuild/protobuf";
import {
  GRPCInferenceService,
  RepositoryModelLoadResponseSchema,
  grpcServiceDefinition,
  type GrpcServiceImplementation,
} from "@sluice/proto";
import { registerLoad } from "./load.js";

/** Runs the command as main.ts would: exitOverride, output captured. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const program = new Command("sluice")
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (err += text) });
  registerLoad(program);
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

const loaded: string[] = [];

before(() =>
  serve({
    repositoryModelLoad: (call, callback) => {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      if (call.request.modelName !== "fraud") {
        return callback({
          code: status.NOT_FOUND,
          details: `model "${call.request.modelName}" is not in the repository`,
        });
      }
      loaded.push(call.request.modelName);
      callback(null, create(RepositoryModelLoadResponseSchema));
    },
  }),
);

describe("sluice load", () => {
  test("loads the model with the token", async () => {
    const { code, out } = await run("load", "fraud", "--url", url, "--token", TOKEN);
    assert.equal(code, 0);
    assert.equal(out, "loaded fraud\n");
    assert.deepEqual(loaded, ["fraud"]);
  });

  test("a model the server does not know: exit 1 with the server's message", async () => {
    const { code, err } = await run("load", "nope", "--url", url, "--token", TOKEN);
    assert.equal(code, 1);
    assert.equal(err, 'error: [NOT_FOUND] model "nope" is not in the repository\n');
  });

  test("no server at --url: UNAVAILABLE, with a hint", async () => {
    const { code, err } = await run("load", "fraud", "--url", "127.0.0.1:1", "--timeout", "2000");
    assert.equal(code, 1);
    assert.match(
      err,
      /^error: \[UNAVAILABLE\] .*\(hint: is a server listening at 127\.0\.0\.1:1\?\)\n$/,
    );
    assert.doesNotMatch(err, /Resolution note/);
  });

  test("a malformed --url is a usage error", async () => {
    const { code, err } = await run("load", "fraud", "--url", "localhost");
    assert.equal(code, 2);
    assert.equal(
      err,
      'error: --url: expected "host:port" such as "127.0.0.1:8001", got "localhost"\n',
    );
  });
});
