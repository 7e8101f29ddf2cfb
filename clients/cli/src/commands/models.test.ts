import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { RepositoryIndexResponseSchema } from "@sluice/proto";
import {
  STUB_ADMIN_TOKEN as TOKEN,
  authorized,
  captured,
  startStubServer,
  unauthenticated,
  type StubServer,
} from "@sluice/testing";
import { runSluice } from "../program.js";

const run = (...args: string[]) => captured((output) => runSluice(args, { output }));
let server: StubServer;
let url: string;

after(() => server?.close());

const requests: { ready: boolean }[] = [];

before(async () => {
  server = await startStubServer({
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
  });
  url = server.url;
});

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
