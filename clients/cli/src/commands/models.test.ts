import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { RepositoryIndexResponseSchema } from "@sluice/proto";
import { STUB_ADMIN_TOKEN as TOKEN } from "@sluice/testing";
import { sluice as run, stubServerForFile, withToken } from "../test-kit.js";

const requests: { ready: boolean }[] = [];

const server = stubServerForFile({
  repositoryIndex: withToken((call, callback) => {
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
  }),
});

describe("sluice models", () => {
  test("prints the repository index as a table", async () => {
    const { code, out } = await run("models", "--url", server(), "--token", TOKEN);
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
      const { code, out } = await run("models", "--ready", "--url", server());
      assert.equal(code, 0);
      assert.deepEqual(out.split("\n").slice(1, -1), ["fraud  2        READY"]);
      assert.equal(requests.at(-1)?.ready, true);
    } finally {
      delete process.env["SLUICE_ADMIN_TOKEN"];
    }
  });

  test("without the token: the server's error with a hint how to fix it", async () => {
    const { code, err } = await run("models", "--url", server());
    assert.equal(code, 1);
    assert.equal(
      err,
      "error: [UNAUTHENTICATED] repository calls need the admin token " +
        "(hint: set SLUICE_ADMIN_TOKEN or --token to the server's admin token)\n",
    );
  });
});
