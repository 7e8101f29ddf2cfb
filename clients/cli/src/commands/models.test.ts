import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { RepositoryIndexResponseSchema } from "@sluice/proto";
import { sidecarForFile, sluice, stubServerForFile, withToken } from "../test-kit.js";

const sidecar = sidecarForFile(async (repository) => {
  await mkdir(join(repository, "broken", "1"), { recursive: true });
  await writeFile(join(repository, "broken", "1", "model.onnx"), "not an ONNX model\n");
});

// The stub answers repository calls only with its token, as a sidecar with an admin token may.
const guarded = stubServerForFile({
  repositoryIndex: withToken((_call, callback) =>
    callback(null, create(RepositoryIndexResponseSchema)),
  ),
});

describe("sluice models", () => {
  test("every version: its labels, state, inputs and outputs, and why one failed", async () => {
    const { code, out, err } = await sluice("models", "--url", sidecar());
    assert.equal(err, "");
    assert.equal(code, 0);
    const [header, ...rows] = out.trimEnd().split("\n");
    assert.match(header ?? "", /^NAME +VERSION +LABELS +STATE +INPUTS +OUTPUTS +REASON$/);
    const cells = rows.map((row) => row.split(/ {2,}/));
    assert.deepEqual(cells.slice(0, 1), [
      ["broken", "1", "-", "UNAVAILABLE", "-", "-", cells[0]?.[6]],
    ]);
    assert.match(cells[0]?.[6] ?? "", /model\.onnx/);
    const io = ["features FP32 [-1, 20]", "label INT64 [-1], probabilities FP32 [-1, 2]"];
    assert.deepEqual(cells.slice(1), [
      ["fraud", "1", "stable", "READY", ...io],
      ["fraud", "2", "canary", "READY", ...io],
    ]);
  });

  test("--ready --json: only ready versions, as JSON", async () => {
    const { code, out } = await sluice("models", "--ready", "--json", "--url", sidecar());
    assert.equal(code, 0);
    const tensors = {
      inputs: [{ name: "features", datatype: "FP32", shape: [-1, 20] }],
      outputs: [
        { name: "label", datatype: "INT64", shape: [-1] },
        { name: "probabilities", datatype: "FP32", shape: [-1, 2] },
      ],
    };
    assert.deepEqual(JSON.parse(out), [
      { name: "fraud", version: "1", state: "READY", reason: "", labels: ["stable"], ...tensors },
      { name: "fraud", version: "2", state: "READY", reason: "", labels: ["canary"], ...tensors },
    ]);
  });

  test("without the token a server asks for: its error, with a hint how to fix it", async () => {
    const { code, err } = await sluice("models", "--url", guarded());
    assert.equal(code, 1);
    assert.equal(
      err,
      "error: [UNAUTHENTICATED] repository calls need the admin token " +
        "(hint: set SLUICE_ADMIN_TOKEN or --token to the server's admin token)\n",
    );
  });
});
