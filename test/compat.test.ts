/**
 * Compatibility with clients nobody on this team wrote (see test/compat/README.md):
 * - a Java driver on the Triton/KServe V2 stubs that the Vespa project generated from the official
 *   protos — the wire itself: field numbers, raw and typed tensors, status codes, extensions;
 * - grpcurl, which learns the services through our reflection and speaks JSON.
 * `npm test` builds both first (scripts/prepare-tests.mjs, the `pretest` script).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { Sidecar } from "@sluice/server";
import {
  EXAMPLE_MODELS,
  ProtocolClient,
  REPO_ROOT,
  f32,
  i64,
  makeRepository,
  raw,
  startTestSidecar,
  type TestRepository,
} from "@sluice/testing";

const run = promisify(execFile);
const JAR = join(REPO_ROOT, "test/compat/java/target/sluice-compat-java.jar");
const GRPCURL = join(REPO_ROOT, ".cache/bin/grpcurl");
const PREPARE_HINT = "run `node scripts/prepare-tests.mjs` (npm test does it first)";

/** The driver's input: row r, column c holds ((r*20+c) mod 16)/8 - 1, exact in float32. */
const DRIVER_INPUT = Float32Array.from({ length: 60 }, (_, i) => (i % 16) / 8 - 1);

interface Step {
  step: string;
  ok: boolean;
  [key: string]: unknown;
}

let repository: TestRepository;
let sidecar: Sidecar;
let target: string;

before(async () => {
  repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
  sidecar = await startTestSidecar({ modelRepository: repository.dir });
  target = `127.0.0.1:${sidecar.grpcPort}`;
});

after(async () => {
  await sidecar.close();
  await repository.remove();
});

describe("Java client on the official Triton/KServe V2 stubs", () => {
  let steps: Map<string, Step>;

  before(async () => {
    assert.ok(existsSync(JAR), `the Java compat driver is not built: ${PREPARE_HINT}`);
    const { stdout } = await run("java", ["-jar", JAR, "--target", target, "--model", "fraud"], {
      timeout: 120_000,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      // A failed step exits 1 but still prints every step; the assertions below name it.
      if (error.stdout) return { stdout: error.stdout };
      throw new Error(`the Java driver failed to run: ${error.message}\n${error.stderr ?? ""}`);
    });
    steps = new Map(
      stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Step)
        .map((step) => [step.step, step]),
    );
  });

  it("every step passes", () => {
    const failed = [...steps.values()].filter((step) => !step.ok);
    assert.deepEqual(failed, [], `failed steps: ${JSON.stringify(failed, null, 2)}`);
    assert.deepEqual(steps.get("summary")?.["failed"], []);
  });

  it("reads health, server and model metadata", () => {
    assert.equal(steps.get("server_live")?.["live"], true);
    assert.equal(steps.get("server_ready")?.["ready"], true);
    assert.equal(steps.get("health_check")?.["status"], "SERVING");
    assert.equal(steps.get("server_metadata")?.["name"], "sluice");
    const metadata = steps.get("model_metadata")!;
    assert.deepEqual(metadata["inputs"], [{ name: "features", datatype: "FP32", shape: [-1, 20] }]);
    assert.deepEqual(metadata["versions"], ["1", "2"]);
  });

  it("gets the same predictions as a raw request from our side, typed and raw", async () => {
    const client = new ProtocolClient(target);
    try {
      const ours = await client.infer({
        modelName: "fraud",
        inputs: [{ name: "features", datatype: "FP32", shape: [3n, 20n] }],
        rawInputContents: [raw(DRIVER_INPUT)],
      });
      const byName = new Map(ours.outputs.map((o, i) => [o.name, ours.rawOutputContents[i]]));
      const labels = [...i64(byName.get("label"))].map(Number);
      const probabilities = [...f32(byName.get("probabilities"))];
      for (const stepName of ["infer_typed", "infer_raw"]) {
        const step = steps.get(stepName)!;
        assert.equal(step["model_version"], "2");
        const outputs = new Map(
          (step["outputs"] as { name: string; data: number[]; shape: number[] }[]).map((o) => [
            o.name,
            o,
          ]),
        );
        assert.deepEqual(outputs.get("label")?.data, labels, `${stepName} labels`);
        assert.deepEqual(outputs.get("probabilities")?.shape, [3, 2]);
        assert.deepEqual(
          outputs.get("probabilities")?.data.map((v) => Math.fround(v)),
          probabilities,
          `${stepName} probabilities`,
        );
      }
      assert.equal(steps.get("infer_typed")?.["encoding"], "typed");
      assert.equal(steps.get("infer_raw")?.["encoding"], "raw");
    } finally {
      client.close();
    }
  });

  it("gets the protocol's status codes for bad requests", () => {
    for (const name of ["infer_wrong_shape", "infer_raw_size_mismatch", "infer_unknown_model"]) {
      const step = steps.get(name)!;
      assert.equal(step["code"], step["expected_code"], `${name}: ${String(step["message"])}`);
    }
    assert.match(
      String(steps.get("infer_raw_size_mismatch")?.["message"]),
      /expected 60 elements of FP32 \(240 bytes\), got 236 bytes/,
    );
  });

  it("reads Triton's extensions: repository index, model config, statistics", () => {
    const models = steps.get("repository_index")?.["models"] as {
      name: string;
      version: string;
      state: string;
    }[];
    assert.ok(models.some((m) => m.name === "fraud" && m.version === "2" && m.state === "READY"));
    const config = steps.get("model_config")!;
    assert.equal(config["platform"], "onnxruntime_onnx");
    assert.ok((config["max_batch_size"] as number) > 0);
    assert.deepEqual((config["input"] as { dims: number[] }[])[0]?.dims, [20]);
    // Sluice's version labels, as Triton's own stubs decode ModelConfig.parameters.
    assert.deepEqual(config["parameters"], {
      "sluice.version_label.canary": "2",
      "sluice.version_label.stable": "1",
    });
    const stats = steps.get("model_statistics")?.["model_stats"] as {
      version: string;
      inference_count: number;
    }[];
    assert.ok(stats.find((s) => s.version === "2")!.inference_count >= 6);
  });
});

describe("grpcurl through server reflection", () => {
  const grpcurl = (...args: string[]) => run(GRPCURL, ["-plaintext", ...args], { timeout: 30_000 });

  before(() => {
    assert.ok(existsSync(GRPCURL), `grpcurl is not installed: ${PREPARE_HINT}`);
  });

  it("lists and describes the services without .proto files", async () => {
    const { stdout } = await grpcurl(target, "list");
    const services = stdout.trim().split("\n");
    assert.ok(services.includes("inference.GRPCInferenceService"));
    assert.ok(services.includes("grpc.health.v1.Health"));
    const described = await grpcurl(target, "describe", "inference.GRPCInferenceService");
    assert.match(
      described.stdout,
      /rpc ModelInfer \( \.inference\.ModelInferRequest \) returns \( \.inference\.ModelInferResponse \)/,
    );
  });

  it("checks health", async () => {
    const { stdout } = await grpcurl(target, "grpc.health.v1.Health/Check");
    assert.equal((JSON.parse(stdout) as { status: string }).status, "SERVING");
  });

  it("runs ModelInfer written as JSON", async () => {
    const body = JSON.stringify({
      model_name: "fraud",
      model_version: "1",
      inputs: [
        {
          name: "features",
          datatype: "FP32",
          shape: [1, 20],
          contents: { fp32_contents: Array.from(DRIVER_INPUT.slice(0, 20)) },
        },
      ],
    });
    const { stdout } = await grpcurl(
      "-d",
      body,
      target,
      "inference.GRPCInferenceService/ModelInfer",
    );
    // grpcurl prints the proto3 JSON mapping: camelCase names, int64 as strings.
    const response = JSON.parse(stdout) as {
      modelVersion: string;
      outputs: { name: string; shape: string[]; contents: { fp32Contents?: number[] } }[];
    };
    assert.equal(response.modelVersion, "1");
    const probabilities = response.outputs.find((o) => o.name === "probabilities")!;
    assert.deepEqual(probabilities.shape, ["1", "2"]);
    const [p0, p1] = probabilities.contents.fp32Contents!;
    assert.ok(Math.abs(p0! + p1! - 1) < 1e-5, `probabilities sum to 1, got ${p0} + ${p1}`);
  });

  it("reads the version labels in ModelConfig's parameters as JSON", async () => {
    const { stdout } = await grpcurl(
      "-d",
      JSON.stringify({ name: "fraud", version: "stable" }),
      target,
      "inference.GRPCInferenceService/ModelConfig",
    );
    const { config } = JSON.parse(stdout) as {
      config: { parameters: Record<string, { stringValue: string }> };
    };
    assert.deepEqual(config.parameters, {
      "sluice.version_label.stable": { stringValue: "1" },
      "sluice.version_label.canary": { stringValue: "2" },
    });
  });

  it("gets a clear error for a bad request", async () => {
    const body = JSON.stringify({
      model_name: "fraud",
      inputs: [
        {
          name: "features",
          datatype: "FP32",
          shape: [1, 3],
          contents: { fp32_contents: [1, 2, 3] },
        },
      ],
    });
    const error = await grpcurl(
      "-format-error",
      "-d",
      body,
      target,
      "inference.GRPCInferenceService/ModelInfer",
    ).then(
      () => assert.fail("expected INVALID_ARGUMENT"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(error.code, 64 + 3, "grpcurl exits with 64 + the gRPC status");
    assert.match(
      (JSON.parse(error.stderr) as { message: string }).message,
      /input "features": expected shape \[-1, 20\], got \[1, 3\]/,
    );
  });
});
