import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { launchedByNpm, watchLauncher } from "./launcher-watch.js";

describe("the launcher watch", () => {
  it("knows npx, npm exec and npm run from what npm sets", () => {
    assert.equal(launchedByNpm({ npm_command: "exec", npm_lifecycle_event: "npx" }), true);
    assert.equal(
      launchedByNpm({ npm_command: "run-script", npm_lifecycle_event: "consume" }),
      true,
    );
    assert.equal(launchedByNpm({}), false);
  });

  it("does nothing outside npm", () => {
    const stop = watchLauncher({ env: {} });
    stop();
  });
});
