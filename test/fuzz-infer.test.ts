/**
 * Fuzzing ModelInfer (issue 12): random requests, most of them wrong in one way or several (shapes
 * that disagree with the model or with their contents, unknown datatypes, raw bytes whose size
 * disagrees with the shape, negative and enormous dimensions, unknown models and versions, names
 * that are not the model's, typed and raw contents mixed), sent to a real sidecar. Each one gets
 * either a result or INVALID_ARGUMENT / NOT_FOUND with a message that says what was wrong; the
 * sidecar stays up, keeps answering good requests, and its memory stays bounded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status, type ServiceError } from "@grpc/grpc-js";
import fc from "fast-check";
import type { Sidecar } from "@sluice/server";
import {
  EXAMPLE_MODELS,
  FIXTURE_MODELS,
  ProtocolClient,
  f32,
  makeRepository,
  propertyFailure,
  raw,
  startTestSidecar,
  type TestRepository,
} from "@sluice/testing";

/** Small, so an oversized message is cheap to build; far above any fuzzed request. */
const MAX_MESSAGE_BYTES = 1 << 20;
/** Requests per property: enough to hit every branch of the codec, quick on a busy machine. */
const RUNS = 400;
/** Most the sidecar's heap may grow over the whole fuzz run: leaks would show as far more. */
const HEAP_GROWTH_LIMIT_BYTES = 64 * 1024 * 1024;

const MODELS = {
  "identity-fp32": { input: "INPUT0", datatype: "FP32", width: 4, batched: true },
  "identity-string": { input: "INPUT0", datatype: "BYTES", width: 2, batched: true },
  "fixed-shape": { input: "INPUT0", datatype: "FP32", width: 4, batched: false },
  fraud: { input: "features", datatype: "FP32", width: 20, batched: true },
} as const;
type ModelName = keyof typeof MODELS;

const DATATYPES = ["BOOL", "UINT8", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"];

let repository: TestRepository;
let sidecar: Sidecar;
let client: ProtocolClient;

before(async () => {
  repository = await makeRepository({
    "identity-fp32": join(FIXTURE_MODELS, "identity-fp32"),
    "identity-string": join(FIXTURE_MODELS, "identity-string"),
    "fixed-shape": join(FIXTURE_MODELS, "fixed-shape"),
    fraud: join(EXAMPLE_MODELS, "fraud"),
  });
  sidecar = await startTestSidecar({
    modelRepository: repository.dir,
    maxMessageBytes: MAX_MESSAGE_BYTES,
  });
  client = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`, undefined, {
    "grpc.max_send_message_length": 8 * MAX_MESSAGE_BYTES,
  });
});

after(async () => {
  client.close();
  await sidecar.close();
  await repository.remove();
});

/** A dimension: mostly plausible, sometimes zero, negative or enormous. */
const dimension = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }).map(BigInt) },
  { weight: 1, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 40n), max: -1n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 20n, max: 2n ** 62n }) },
);

/** One input tensor, sometimes right for `model`, usually wrong in some way. */
function tensor(model: ModelName) {
  const spec = MODELS[model];
  return fc.record({
    name: fc.oneof(fc.constant(spec.input), fc.string({ maxLength: 12 })),
    datatype: fc.oneof(
      { weight: 3, arbitrary: fc.constant(spec.datatype) },
      { weight: 2, arbitrary: fc.constantFrom(...DATATYPES) },
      { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
    ),
    shape: fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .integer({ min: 1, max: 4 })
          .map((rows) =>
            spec.batched ? [BigInt(rows), BigInt(spec.width)] : [3n, BigInt(spec.width)],
          ),
      },
      { weight: 2, arbitrary: fc.array(dimension, { maxLength: 4 }) },
    ),
    /** Raw bytes: the right size for the shape when the shape allows it, else any size. */
    rawBytes: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 4096 }) },
    ),
    typed: fc.boolean(),
  });
}

const request = fc
  .oneof(
    fc.constantFrom<ModelName>(...(Object.keys(MODELS) as ModelName[])),
    fc.string({ maxLength: 16 }),
  )
  .chain((modelName) => {
    const known = modelName in MODELS ? (modelName as ModelName) : "identity-fp32";
    return fc.record({
      modelName: fc.constant(modelName),
      modelVersion: fc.oneof(fc.constant(""), fc.constant("1"), fc.string({ maxLength: 6 })),
      inputs: fc.array(tensor(known), { minLength: 0, maxLength: 3 }),
      rawAlongside: fc.boolean(),
    });
  });

function elementsOf(shape: readonly bigint[]): number | undefined {
  let count = 1n;
  for (const dim of shape) {
    if (dim < 0n) return undefined;
    count *= dim;
  }
  return count <= 4096n ? Number(count) : undefined;
}

type FuzzedRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

function build(input: FuzzedRequest) {
  const rawContents: Uint8Array[] = [];
  const inputs = input.inputs.map((t) => {
    const count = elementsOf(t.shape) ?? 1;
    const size = t.datatype === "FP64" || t.datatype === "INT64" ? 8 : 4;
    const bytes = t.rawBytes ?? count * size;
    if (t.typed && !input.rawAlongside) {
      return {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        contents: { fp32Contents: Array.from({ length: Math.min(count, 64) }, (_, i) => i / 7) },
      };
    }
    rawContents.push(new Uint8Array(Math.min(bytes, 1 << 16)).fill(7));
    return { name: t.name, datatype: t.datatype, shape: t.shape };
  });
  return {
    modelName: input.modelName,
    modelVersion: input.modelVersion,
    inputs,
    rawInputContents: rawContents,
  };
}

async function infer(message: object): Promise<ServiceError | undefined> {
  try {
    await client.call("modelInfer", message, { deadlineMs: 20_000 });
    return undefined;
  } catch (error) {
    return error as ServiceError;
  }
}

/** A request that must succeed, to show the sidecar still serves. */
async function assertServes(): Promise<void> {
  const response = await client.call<{ rawOutputContents: Uint8Array[] }>("modelInfer", {
    modelName: "identity-fp32",
    inputs: [{ name: "INPUT0", datatype: "FP32", shape: [1n, 4n] }],
    rawInputContents: [raw(new Float32Array([1, 2, 3, 4]))],
  });
  assert.deepEqual([...f32(response.rawOutputContents[0])], [1, 2, 3, 4]);
}

describe("ModelInfer fuzzed", { timeout: 180_000 }, () => {
  it("answers every request with a result, INVALID_ARGUMENT or NOT_FOUND and a message saying why, and stays up", async () => {
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const seen = new Map<number, number>();
    await fc
      .assert(
        fc.asyncProperty(request, async (input) => {
          const error = await infer(build(input));
          const code = error?.code ?? status.OK;
          seen.set(code, (seen.get(code) ?? 0) + 1);
          if (error === undefined) return;
          assert.ok(
            code === status.INVALID_ARGUMENT || code === status.NOT_FOUND,
            `expected INVALID_ARGUMENT or NOT_FOUND, got ${status[code]}: ${error.details}`,
          );
          // The message names what was wrong: the model, an input, a datatype, a shape or a size.
          assert.ok(
            error.details.length >= 20,
            `a message too short to act on: "${error.details}"`,
          );
          assert.match(
            error.details,
            /model|input|datatype|shape|bytes|elements|expected|version|rows|batch/i,
          );
        }),
        { numRuns: RUNS, seed: 20261206 },
      )
      .catch((error: unknown) => {
        throw propertyFailure(error);
      });
    assert.ok((seen.get(status.INVALID_ARGUMENT) ?? 0) > RUNS / 4, "most requests are refused");
    assert.ok((seen.get(status.NOT_FOUND) ?? 0) > 0, "unknown models and versions are NOT_FOUND");
    await assertServes();
    global.gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(
      growth < HEAP_GROWTH_LIMIT_BYTES,
      `the heap grew by ${(growth / 2 ** 20).toFixed(1)} MiB over ${RUNS} requests`,
    );
  });

  it("refuses a message over --max-message-bytes before decoding it, and stays up", async () => {
    const big = new Uint8Array(2 * MAX_MESSAGE_BYTES);
    const error = await infer({
      modelName: "identity-fp32",
      inputs: [{ name: "INPUT0", datatype: "FP32", shape: [BigInt(big.length / 16), 4n] }],
      rawInputContents: [big],
    });
    // gRPC's own limit, before any of our code runs: RESOURCE_EXHAUSTED with both sizes.
    assert.equal(error?.code, status.RESOURCE_EXHAUSTED);
    assert.match(error.details, new RegExp(`larger than max \\(\\d+ vs ${MAX_MESSAGE_BYTES}\\)`));
    await assertServes();
  });

  it("refuses dimensions whose element count would overflow, naming the shape", async () => {
    const error = await infer({
      modelName: "identity-fp32",
      inputs: [{ name: "INPUT0", datatype: "FP32", shape: [2n ** 40n, 2n ** 40n] }],
      rawInputContents: [new Uint8Array(16)],
    });
    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /INPUT0/);
    await assertServes();
  });
});
