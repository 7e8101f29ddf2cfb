/**
 * ONNX Runtime behind the runtime port: a run that fails inside the model comes back as an error
 * with the runtime's message, and its native log line does not reach stderr (it is not JSON and
 * says the same thing). The runtime runs in a child process here, so the test sees that process's
 * whole stderr, native writes included.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, matMulModel } from "@sluice/testing";
import { ortLogSeverity } from "./onnx-runtime.js";

const run = promisify(execFile);
let dir: string;
let modelPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-ort-"));
  modelPath = join(dir, "model.onnx");
  await writeFile(modelPath, matMulModel());
});
after(() => rm(dir, { recursive: true, force: true }));

/** Loads the MatMul model ([batch, k] @ [4, 4]) and runs it with k = 3 in a child process. */
async function failingRun(runtimeOptions: string): Promise<{ stdout: string; stderr: string }> {
  const script = `
    import { OnnxRuntime } from "./server/src/runtime/onnx-runtime.ts";
    const runtime = new OnnxRuntime(${runtimeOptions});
    const model = await runtime.load(${JSON.stringify(modelPath)}, {
      intraOpThreads: 1, interOpThreads: 1, graphOptimizationLevel: "all", allowSpinning: false,
    });
    const feeds = new Map([["INPUT0", { datatype: "FP32", shape: [1, 3], data: new Float32Array(3) }]]);
    try {
      await model.run(feeds, ["OUTPUT0"]);
      console.log("ran");
    } catch (error) {
      console.log(JSON.stringify(error.message));
    } finally {
      await model.release();
    }`;
  return run(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", script],
    { cwd: REPO_ROOT, timeout: 60_000 },
  );
}

describe("OnnxRuntime", () => {
  test("a run that fails in the model: the runtime's message as the error, nothing on stderr", async () => {
    const { stdout, stderr } = await failingRun("{}");
    const message = JSON.parse(stdout) as string;
    assert.match(message, /MatMul/);
    assert.match(message, /dimension mismatch/i);
    assert.equal(stderr, "");
  });

  test("at error severity the runtime's own line is written, as a sidecar at debug would show it", async () => {
    const { stderr } = await failingRun("{ logSeverityLevel: 3 }");
    assert.match(stderr, /MatMul/);
  });

  test("the runtime's log follows the sidecar's log level: fatal only unless debugging", () => {
    assert.deepEqual(
      ["silent", "error", "warn", "info", "debug", "trace"].map(ortLogSeverity),
      [4, 4, 4, 4, 2, 1],
    );
  });
});
