import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { RepositoryModelLoadResponseSchema } from "@sluice/proto";
import { STUB_ADMIN_TOKEN as TOKEN } from "@sluice/testing";
import { sluice as run, stubServerForFile, withToken } from "../test-kit.js";

const loaded: string[] = [];

const server = stubServerForFile({
  repositoryModelLoad: withToken((call, callback) => {
    if (call.request.modelName !== "fraud") {
      return callback({
        code: status.NOT_FOUND,
        details: `model "${call.request.modelName}" is not in the repository`,
      });
    }
    loaded.push(call.request.modelName);
    callback(null, create(RepositoryModelLoadResponseSchema));
  }),
});

describe("sluice load", () => {
  test("loads the model with the token", async () => {
    const { code, out } = await run("load", "fraud", "--url", server(), "--token", TOKEN);
    assert.equal(code, 0);
    assert.equal(out, "loaded fraud\n");
    assert.deepEqual(loaded, ["fraud"]);
  });

  test("a model the server does not know: exit 1 with the server's message", async () => {
    const { code, err } = await run("load", "nope", "--url", server(), "--token", TOKEN);
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
      'error: --url: expected "host:port" such as "127.0.0.1:8001", got "localhost"\n(add --help for usage)\n',
    );
  });
});
