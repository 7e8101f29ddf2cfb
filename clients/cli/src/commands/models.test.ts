import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { Server, ServerCredentials, status, type Metadata } from "@grpc/grpc-js";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { create } from "@bufbuild/protobuf";
import {
  GRPCInferenceService,
  RepositoryIndexResponseSchema,
  grpcServiceDefinition,
  type GrpcServiceImplementation,
} from "@sluice/proto";
import { registerModels } from "./models.js";

/** Runs the command as main.ts would: exitOverride, output captured. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const program = new Command("sluice")
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (err += text) });
  registerModels(program);
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

const requests: { ready: boolean }[] = [];

before(() =>
  serve({
    repositoryIndex: (call, callback) => {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      requests.push(call.request);
      const models = [
        { name: "fraud", version: "2", state: "READY", reason: "" },
        { name: "fraud-mlp", version: "", state: "UNAVAILABLE", reason: "model.onnx: not found" },
      ];
      callback(
        null,
        create(RepositoryIndexResponseSchema, {
          models: call.request.ready ? models.slice(0, 1) : models,
        }),
      );
    },
  }),
);

describe("sluice models", () => {
  test("prints the repository index as a table", async () => {
    const { code, out } = await run("models", "--url", url, "--token", TOKEN);
    assert.equal(code, 0);
    assert.equal(
      out,
      [
        "NAME       VERSION  STATE        REASON",
        "fraud      2        READY",
        "fraud-mlp  -        UNAVAILABLE  model.onnx: not found",
        "",
      ].join("\n"),
    );
  });

  test("--ready asks for ready models only; the token may come from SLUICE_ADMIN_TOKEN", async () => {
    process.env["SLUICE_ADMIN_TOKEN"] = TOKEN;
    try {
      const { code, out } = await run("models", "--ready", "--url", url);
      assert.equal(code, 0);
      assert.deepEqual(out.split("\n").slice(1, -1), ["fraud  2        READY"]);
      assert.equal(requests.at(-1)?.ready, true);
    } finally {
      delete process.env["SLUICE_ADMIN_TOKEN"];
    }
  });

  test("without the token: the server's error with a hint how to fix it", async () => {
    const { code, err } = await run("models", "--url", url);
    assert.equal(code, 1);
    assert.equal(
      err,
      "error: [UNAUTHENTICATED] repository calls need the admin token " +
        "(hint: set SLUICE_ADMIN_TOKEN or --token to the server's admin token)\n",
    );
  });
});
