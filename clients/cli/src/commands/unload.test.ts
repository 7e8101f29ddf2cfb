import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { RepositoryModelUnloadResponseSchema } from "@sluice/proto";
import {
  STUB_ADMIN_TOKEN as TOKEN,
  authorized,
  captured,
  startStubServer,
  unauthenticated,
  type StubServer,
} from "@sluice/testing";
import { createProgram, runSluice } from "../program.js";

const run = (...args: string[]) => captured((output) => runSluice(args, { output }));
let server: StubServer;
let url: string;

after(() => server?.close());

const unloaded: { modelName: string; dependents: unknown }[] = [];

before(async () => {
  server = await startStubServer({
    repositoryModelUnload: (call, callback) => {
      if (!authorized(call.metadata)) return callback(unauthenticated());
      const { modelName, parameters } = call.request;
      unloaded.push({
        modelName,
        dependents: parameters["unload_dependents"]?.parameterChoice.value,
      });
      callback(null, create(RepositoryModelUnloadResponseSchema));
    },
  });
  url = server.url;
});

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
    const program = createProgram({ writeOut: (text) => (help += text) });
    program.commands.find((command) => command.name() === "unload")?.outputHelp();
    assert.match(help, /Usage: sluice unload \[options\] <model>/);
    assert.match(help, /--unload-dependents/);
    assert.match(help, /Examples:\n {2}\$ SLUICE_ADMIN_TOKEN=s3cret-token sluice unload fraud/);
  });
});
