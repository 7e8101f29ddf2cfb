import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { EXAMPLE_MODELS, configProblem } from "@sluice/testing";
import {
  binnedFromSamples,
  loadReference,
  parseReference,
  referenceFromSamples,
  referencePath,
} from "./reference-distribution.js";

const FRAUD_FEATURES = [
  "amount_log", "account_age_log", "tx_count_5m", "tx_count_1h", "tx_count_24h",
  "amount_ratio_mean_24h", "distinct_merchants_1h", "secs_since_prev_log", "country_mismatch",
  "hour_sin", "hour_cos", "channel_web", "channel_mobile", "channel_pos", "category_grocery",
  "category_restaurants", "category_fashion", "category_electronics", "category_travel",
  "category_digital_goods",
]; // prettier-ignore

async function exampleDocument(): Promise<Record<string, unknown>> {
  const text = await readFile(referencePath(EXAMPLE_MODELS, "fraud", 2), "utf8");
  return JSON.parse(text) as Record<string, unknown>;
}

describe("reference.json", () => {
  it("loads every example model's reference: the fraud features in column order, the score's bins", async () => {
    for (const [model, version] of [
      ["fraud", 1],
      ["fraud", 2],
      ["fraud-mlp", 1],
    ] as const) {
      const reference = await loadReference(referencePath(EXAMPLE_MODELS, model, version));
      assert.equal(reference.source, "file");
      assert.equal(reference.model, model);
      assert.equal(reference.version, version);
      assert.deepEqual(
        reference.features.map((f) => [f.name, f.index]),
        FRAUD_FEATURES.map((name, index) => [name, index]),
      );
      const oneHot = reference.features.find((f) => f.name === "channel_web")!;
      assert.deepEqual(oneHot.edges, [0]);
      const score = reference.score!;
      assert.equal(score.output, "probabilities");
      assert.equal(score.classIndex, 1);
      assert.deepEqual(score.domain, [0, 1]);
      assert.equal(score.proportions.length, score.edges.length + 1);
      assert.ok(score.cdf.edges.length > 90, `${score.cdf.edges.length} percentile edges`);
      assert.ok(reference.evaluation!["roc_auc"]! > 0.98);
    }
  });

  it("names the file, the path and what was wrong", async () => {
    const doc = await exampleDocument();
    const features = doc["features"] as Record<string, unknown>[];
    const broken = {
      ...doc,
      features: [
        { ...features[0], proportions: [0.5, 0.5] },
        { ...features[1], edges: [1, 1, 2] },
        { ...features[2], name: "amount_log" },
      ],
    };
    assert.equal(
      configProblem(() => parseReference(broken, "fraud/2/reference.json")),
      [
        "fraud/2/reference.json: features[0].proportions: expected 10 proportions (one more than edges), got 2",
        "fraud/2/reference.json: features[1].edges[1]: expected edges in strictly ascending order, got 1 after 1",
        "fraud/2/reference.json: features[1].proportions: expected 4 proportions (one more than edges), got 10",
        'fraud/2/reference.json: features[2].name: expected a name no other feature has, got "amount_log" (also features[0])',
      ].join("\n"),
    );
    assert.match(
      configProblem(() => parseReference({ ...doc, format: "v0" }, "r.json")),
      /^r\.json: format: expected "sluice\.reference\/v1", got "v0"$/,
    );
    const score = doc["score"] as Record<string, unknown>;
    assert.match(
      configProblem(() =>
        parseReference({
          ...doc,
          score: { ...score, proportions: [0.5, 0.4, 0, 0, 0, 0, 0, 0, 0, 0] },
        }),
      ),
      /score\.proportions: expected proportions summing to 1, got 0\.9/,
    );
  });

  it("says when the file cannot be read or is not JSON", async () => {
    await assert.rejects(
      loadReference("/nonexistent/reference.json"),
      /cannot read reference distributions "\/nonexistent\/reference.json"/,
    );
    await assert.rejects(loadReference(join(EXAMPLE_MODELS, "README.md")), /not valid JSON/);
  });
});

describe("binnedFromSamples", () => {
  it("cuts at the k/n quantiles (the smallest value whose share reaches k/n), as the training script does", () => {
    const ten = binnedFromSamples(
      Float64Array.from({ length: 10 }, (_, i) => 10 - i),
      10,
    );
    assert.deepEqual(ten.edges, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(ten.proportions, new Array(10).fill(0.1));
    // A one-hot that is 1 in 30 % of rows: one edge, 0, and the shares of 0 and 1.
    const oneHot = binnedFromSamples(
      Float64Array.from({ length: 100 }, (_, i) => (i < 70 ? 0 : 1)),
      10,
    );
    assert.deepEqual(oneHot.edges, [0]);
    assert.deepEqual(oneHot.proportions, [0.7, 0.3]);
    // A constant: one bin.
    assert.deepEqual(binnedFromSamples(new Float64Array(5).fill(3), 10), {
      edges: [],
      proportions: [1],
    });
    assert.throws(() => binnedFromSamples(new Float64Array(0), 10), /at least one value/);
  });

  it("builds a reference from rows of live traffic, leaving NaN out", () => {
    const values = [1, 0, 2, 0, Number.NaN, 0, 4, 1];
    const reference = referenceFromSamples(["a", "b"], values, 4, [0.1, 0.2, 0.3, 0.4], {
      featureBins: 2,
      scoreBins: 2,
      scoreCdfBins: 4,
    });
    assert.equal(reference.source, "warmup");
    assert.equal(reference.rows, 4);
    assert.deepEqual(reference.features[0], {
      name: "a",
      index: 0,
      edges: [2],
      proportions: [2 / 3, 1 / 3],
    });
    assert.deepEqual(reference.features[1], {
      name: "b",
      index: 1,
      edges: [0],
      proportions: [0.75, 0.25],
    });
    assert.deepEqual(reference.score?.edges, [0.2]);
    assert.deepEqual(reference.score?.cdf.edges, [0.1, 0.2, 0.3]);
  });
});
