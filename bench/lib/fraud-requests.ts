/**
 * The requests the benchmark sends, encoded once up front: the load generator then spends its time
 * on gRPC only, and the echo server and the sidecar receive byte-identical requests.
 *
 * Features follow the layout of `features` FP32 [batch, 20] of the example fraud models (see
 * scripts/models/train_models.py, FEATURE_NAMES): plausible values, so tree models walk realistic
 * paths instead of always the same one.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { ModelInferRequestSchema, ModelInferResponseSchema } from "@sluice/proto";

export const FEATURE_COUNT = 20;
/** Distinct requests per shape: enough variety for the trees, few enough to encode instantly. */
export const REQUEST_VARIANTS = 64;

/** Deterministic PRNG (mulberry32), so every run sends the same requests. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `rows` rows of plausible fraud features. */
export function featureRows(rows: number, seed: number): Float32Array {
  const next = random(seed);
  const data = new Float32Array(rows * FEATURE_COUNT);
  for (let row = 0; row < rows; row++) {
    const f = data.subarray(row * FEATURE_COUNT, (row + 1) * FEATURE_COUNT);
    const count5m = 1 + Math.floor(next() * 3);
    const count1h = count5m + Math.floor(next() * 5);
    const hour = next() * 24;
    f[0] = Math.log1p(next() * 2000); // amount_log
    f[1] = Math.log1p(next() * 3000); // account_age_log
    f[2] = count5m;
    f[3] = count1h;
    f[4] = count1h + Math.floor(next() * 20); // tx_count_24h
    f[5] = next() * 4; // amount_ratio_mean_24h
    f[6] = 1 + Math.floor(next() * count1h); // distinct_merchants_1h
    f[7] = Math.log1p(next() * 604_800); // secs_since_prev_log
    f[8] = next() < 0.1 ? 1 : 0; // country_mismatch
    f[9] = Math.sin((2 * Math.PI * hour) / 24);
    f[10] = Math.cos((2 * Math.PI * hour) / 24);
    f[11 + Math.floor(next() * 3)] = 1; // channel one-hot
    const category = Math.floor(next() * 11); // 6 one-hot categories, 5 encoded as all zeros
    if (category < 6) f[14 + category] = 1;
  }
  return data;
}

/** A ModelInferRequest of `rows` rows with raw_input_contents, as protobuf bytes. */
export function encodeFraudRequest(
  model: string,
  version: string,
  rows: number,
  seed: number,
): Buffer {
  const features = featureRows(rows, seed);
  const request = create(ModelInferRequestSchema, {
    modelName: model,
    modelVersion: version,
    inputs: [{ name: "features", datatype: "FP32", shape: [BigInt(rows), BigInt(FEATURE_COUNT)] }],
    rawInputContents: [new Uint8Array(features.buffer)],
  });
  return Buffer.from(toBinary(ModelInferRequestSchema, request));
}

/** `REQUEST_VARIANTS` encoded requests of `rows` rows each. */
export function encodeFraudRequests(model: string, version: string, rows: number): Buffer[] {
  return Array.from({ length: REQUEST_VARIANTS }, (_, i) =>
    encodeFraudRequest(model, version, rows, 1 + i),
  );
}

/**
 * The response the sidecar sends for a 1-row request to `fraud` version 2 (raw outputs because the
 * request was raw): `label` INT64 [1] and `probabilities` FP32 [1, 2]. The benchmark checks its
 * length against a real response of the sidecar.
 */
export function encodeFraudResponse(model = "fraud", version = "2"): Buffer {
  const response = create(ModelInferResponseSchema, {
    modelName: model,
    modelVersion: version,
    outputs: [
      { name: "label", datatype: "INT64", shape: [1n] },
      { name: "probabilities", datatype: "FP32", shape: [1n, 2n] },
    ],
    rawOutputContents: [
      new Uint8Array(new BigInt64Array([0n]).buffer),
      new Uint8Array(new Float32Array([0.97, 0.03]).buffer),
    ],
  });
  return Buffer.from(toBinary(ModelInferResponseSchema, response));
}
