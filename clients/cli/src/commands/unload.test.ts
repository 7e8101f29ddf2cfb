import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { RepositoryModelUnloadResponseSchema } from "@sluice/proto";
import { STUB_ADMIN_TOKEN as TOKEN } from "@sluice/testing";
import { helpOf, sluice as run, stubServerForFile, withToken } from "../test-kit.js";

const unloaded: { modelName: string; dependents: unknown }[] = [];

const server = stubServerForFile({
  repositoryModelUnload: withToken((call, callback) => {
    const { modelName, parameters } = call.request;
    unloaded.push({
      modelName,
      dependents: parameters["unload_dependents"]?.parameterChoice.value,
    });
    callback(null, create(RepositoryModelUnloadResponseSchema));
  }),
});

describe("sluice unload", () => {
  test("unloads the model; --unload-dependents is sent as Triton's parameter", async () => {
    assert.deepEqual(await run("unload", "fraud", "--url", server(), "--token", TOKEN), {
      code: 0,
      out: "unloaded fraud\n",
      err: "",
    });
    await run("unload", "fraud", "--unload-dependents", "--url", server(), "--token", TOKEN);
    assert.deepEqual(unloaded, [
      { modelName: "fraud", dependents: undefined },
      { modelName: "fraud", dependents: true },
    ]);
  });

  test("--help shows the usage, the connection flags and an example", () => {
    const help = helpOf("unload");
    assert.match(help, /Usage: sluice unload \[options\] <model>/);
    assert.match(help, /--unload-dependents/);
    assert.match(help, /--url <host:port>/);
    assert.match(help, /Examples:\n {2}\$ SLUICE_ADMIN_TOKEN=s3cret-token sluice unload fraud/);
  });
});
