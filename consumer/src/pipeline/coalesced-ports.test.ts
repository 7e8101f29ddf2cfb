import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerError } from "../errors.js";
import type {
  FeatureStore,
  StatePlan,
  StoreRequest,
  StoreResponse,
} from "../ports/feature-store.js";
import type { InferRequest, InferResponse, Inference } from "../ports/inference.js";
import { coalescedInference, coalescedStore } from "./coalesced-ports.js";

const PLAN: StatePlan = {
  windows: [
    { aggregation: "count", field: undefined, overMs: 60_000 },
    { aggregation: "sum", field: 0, overMs: 60_000 },
  ],
  trackedFields: ["amount"],
  sincePrevious: true,
  windowHorizonMs: 60_000,
  previousHorizonMs: 60_000,
};

function storeRequest(partition: number, offsets: number[], lookups: string[]): StoreRequest {
  return {
    plan: PLAN,
    events: offsets.map((offset) => ({
      entity: `u${offset}`,
      eventTime: offset * 1000,
      partition,
      offset: String(offset),
      values: [offset],
    })),
    lookups: lookups.map((key) => ({ key, field: "country" })),
  };
}

/**
 * A store that answers each event from its offset (windows: offset and 10 x offset; previous
 * time: offset - 1 s) and each lookup with its key upper-cased: a caller's part of a merged
 * answer is right only if it was cut at the right place.
 */
function answeringStore(): { store: FeatureStore; calls: StoreRequest[] } {
  const calls: StoreRequest[] = [];
  const store: FeatureStore = {
    apply: (request) => {
      calls.push(request);
      const windowValues = new Float64Array(request.events.length * 2);
      request.events.forEach((event, i) => {
        windowValues[i * 2] = Number(event.offset);
        windowValues[i * 2 + 1] = Number(event.offset) * 10;
      });
      return Promise.resolve({
        windowValues,
        previousEventTimes: request.events.map((event) => event.eventTime - 1000),
        lookups: request.lookups.map((lookup) => lookup.key.toUpperCase()),
      });
    },
    close: () => Promise.resolve(),
  };
  return { store, calls };
}

function expectedStoreAnswer(request: StoreRequest): Promise<StoreResponse> {
  return answeringStore().store.apply(request);
}

describe("coalescedStore", () => {
  it("answers each partition's micro-batch of one turn from ONE store call, as if alone", async () => {
    const { store, calls } = answeringStore();
    const coalesced = coalescedStore(store, 256);
    const requests = [
      storeRequest(0, [1, 2, 3], ["de"]),
      storeRequest(1, [7], []),
      storeRequest(2, [11, 12], ["fr", "it"]),
    ];
    const answers = await Promise.all(requests.map((request) => coalesced.apply(request)));
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.events.length, 6);
    assert.deepEqual(
      calls[0]!.lookups.map((l) => l.key),
      ["de", "fr", "it"],
    );
    for (let i = 0; i < requests.length; i++) {
      const expected = await expectedStoreAnswer(requests[i]!);
      assert.deepEqual([...answers[i]!.windowValues], [...expected.windowValues], `request ${i}`);
      assert.deepEqual(answers[i]!.previousEventTimes, expected.previousEventTimes);
      assert.deepEqual(answers[i]!.lookups, expected.lookups);
    }
  });

  it("keeps a call to a micro-batch's size, and fails every caller of a failed call", async () => {
    const calls: number[] = [];
    const store: FeatureStore = {
      apply: (request) => {
        calls.push(request.events.length);
        return Promise.reject(
          new ConsumerError("store_unavailable", "Redis gone", { retryable: true }),
        );
      },
      close: () => Promise.resolve(),
    };
    const coalesced = coalescedStore(store, 4);
    const results = await Promise.allSettled([
      coalesced.apply(storeRequest(0, [1, 2], [])),
      coalesced.apply(storeRequest(1, [3, 4], [])),
      coalesced.apply(storeRequest(2, [5], [])),
    ]);
    assert.deepEqual(calls, [4, 1]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.equal((result.reason as ConsumerError).code, "store_unavailable");
    }
  });
});

function inferRequest(rows: number[][], version: string | undefined = "1"): InferRequest {
  return {
    model: "fraud",
    version,
    input: "features",
    rows: Float32Array.from(rows.flat()),
    count: rows.length,
    width: 2,
    outputs: ["probabilities", "label"],
    deadlineMs: 2000,
  };
}

/**
 * A sidecar that scores a row [a, b] as probabilities [a, b] and label a > b ? 0 : 1, and rejects
 * a request holding a NaN, as a model's input check would.
 */
function answeringSidecar(): { inference: Inference; calls: InferRequest[] } {
  const calls: InferRequest[] = [];
  const inference: Inference = {
    describe: () => Promise.reject(new Error("not used")),
    infer: (request) => {
      calls.push(request);
      const values = request.rows.subarray(0, request.count * request.width);
      if (values.some(Number.isNaN)) {
        return Promise.reject(
          new ConsumerError("inference_rejected", "sidecar: a NaN in the input", {
            retryable: false,
          }),
        );
      }
      const labels = new BigInt64Array(request.count);
      for (let r = 0; r < request.count; r++)
        labels[r] = values[r * 2]! > values[r * 2 + 1]! ? 0n : 1n;
      const response: InferResponse = {
        modelVersion: "1",
        outputs: new Map([
          [
            "probabilities",
            { datatype: "FP32", shape: [request.count, 2], data: Float32Array.from(values) },
          ],
          ["label", { datatype: "INT64", shape: [request.count], data: labels }],
        ]),
      };
      return Promise.resolve(response);
    },
    close: () => {},
  };
  return { inference, calls };
}

function plain(
  response: InferResponse,
): Record<string, { shape: readonly number[]; data: unknown[] }> {
  return Object.fromEntries(
    [...response.outputs].map(([name, t]) => [name, { shape: t.shape, data: Array.from(t.data) }]),
  );
}

describe("coalescedInference", () => {
  it("scores the micro-batches of one turn in ONE ModelInfer per version, each getting its rows' outputs", async () => {
    const { inference, calls } = answeringSidecar();
    const coalesced = coalescedInference(inference, 256);
    const requests = [
      inferRequest([[0.9, 0.1]]),
      inferRequest([
        [0.2, 0.8],
        [0.6, 0.4],
      ]),
      inferRequest([[0.3, 0.7]], "2"),
      inferRequest([[0.5, 0.25]]),
    ];
    const answers = await Promise.all(requests.map((request) => coalesced.infer(request)));
    assert.deepEqual(
      calls.map((call) => [call.version, call.count]),
      [
        ["1", 4],
        ["2", 1],
      ],
    );
    const direct = answeringSidecar().inference;
    for (let i = 0; i < requests.length; i++) {
      assert.deepEqual(plain(answers[i]!), plain(await direct.infer(requests[i]!)), `request ${i}`);
    }
  });

  it("sends the micro-batches of a rejected merged call again one by one: only the culprit is rejected", async () => {
    const { inference, calls } = answeringSidecar();
    const coalesced = coalescedInference(inference, 256);
    const results = await Promise.allSettled([
      coalesced.infer(inferRequest([[0.9, 0.1]])),
      coalesced.infer(inferRequest([[Number.NaN, 0.5]])),
      coalesced.infer(inferRequest([[0.2, 0.8]])),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.deepEqual(
      calls.map((call) => call.count),
      [3, 1, 1, 1],
    );
  });

  it("refuses a merged answer whose rows do not add up, naming what it expected", async () => {
    const inference: Inference = {
      describe: () => Promise.reject(new Error("not used")),
      infer: () =>
        Promise.resolve({
          modelVersion: "1",
          outputs: new Map([
            ["probabilities", { datatype: "FP32", shape: [1, 2], data: new Float32Array(2) }],
          ]),
        }),
      close: () => {},
    };
    const coalesced = coalescedInference(inference, 256);
    const results = await Promise.allSettled([
      coalesced.infer(inferRequest([[0.9, 0.1]])),
      coalesced.infer(inferRequest([[0.2, 0.8]])),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.match(
        String(result.reason),
        /expected "probabilities" with 2 rows of 2 values for 2 merged micro-batches, got shape \[1, 2\]/,
      );
    }
  });
});
