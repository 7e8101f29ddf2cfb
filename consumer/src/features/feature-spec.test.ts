import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { ConsumerError } from "../errors.js";
import { parseDuration, parseFeatureSpec, type FeatureSpec } from "./feature-spec.js";
import { FRAUD_FEATURE_NAMES, FRAUD_FEATURES_YAML } from "@sluice/testing";

function fromYaml(text: string): FeatureSpec {
  const document = parseYaml(text) as { features: unknown };
  return parseFeatureSpec(document.features);
}

/** The config_invalid message of a spec, one line per problem. */
function problems(section: unknown): string[] {
  try {
    parseFeatureSpec(section);
  } catch (error) {
    assert.ok(
      ConsumerError.is(error, "config_invalid"),
      `expected config_invalid, got ${String(error)}`,
    );
    assert.equal(error.retryable, false);
    return error.message.split("\n");
  }
  assert.fail("expected the spec to be rejected");
}

/** A valid spec around the given vector entries. */
function spec(...vector: unknown[]): unknown {
  return { entity_key: "user_id", event_time: "timestamp", vector };
}

describe("feature spec", () => {
  it("expresses the fraud model's 20-feature layout with the README's names", () => {
    const parsed = fromYaml(FRAUD_FEATURES_YAML);
    assert.equal(parsed.width, 20);
    assert.deepEqual(parsed.names, FRAUD_FEATURE_NAMES);
    assert.equal(parsed.entityKey, "user_id");
    const ratio = parsed.features[5]?.source;
    assert.equal(ratio?.kind, "ratio");
    const since = parsed.features[7]?.source;
    assert.deepEqual(since, {
      kind: "since_previous",
      capSeconds: 604_800,
      defaultSeconds: 604_800,
    });
  });

  it("parses durations with units and refuses bare numbers", () => {
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("24h"), 86_400_000);
    assert.equal(parseDuration("7d"), 604_800_000);
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("1.5s"), 1_500);
    for (const bad of ["ten", "10", 10, "", "0s", "5 m", "-5m", "5M"]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  it("names the path and what came for a bad duration", () => {
    const lines = problems(
      spec(
        { name: "a", field: "amount" },
        { name: "b", field: "amount" },
        { name: "c", field: "amount" },
        { name: "d", window: { agg: "count", over: "ten" } },
      ),
    );
    assert.deepEqual(lines, [
      'pipeline.features.vector[3].window.over: expected a duration like "10m", got "ten"',
    ]);
  });

  it("reports every problem at once, each with its path", () => {
    const lines = problems({
      entity_key: "user id",
      event_time: 5,
      vector: [
        { name: "x", widnow: { agg: "count", over: "5m" } },
        { name: "y", window: { agg: "median", over: "5m" } },
        { name: "z", field: "amount", transform: ["log2"] },
      ],
    });
    assert.deepEqual(lines, [
      'pipeline.features.entity_key: expected a field path like "user_id" or "payload.amount", got "user id"',
      "pipeline.features.event_time: expected a string, got 5",
      'pipeline.features.vector[0]: unknown key "widnow" (expected one of name, names, field, type, default, window, since_previous, time, lookup, transform, ratio, hook)',
      'pipeline.features.vector[1].window.agg: expected one of "count", "sum", "mean", "min", "max", "distinct_count", got "median"',
      'pipeline.features.vector[2].transform[0]: unknown key "log2" (expected one of log1p, log, clip, bucketize, one_hot, hash_buckets)',
    ]);
  });

  it("checks meaning: sources, types through transforms, names", () => {
    const cases: [unknown, string][] = [
      [
        { name: "a" },
        "pipeline.features.vector[0]: expected exactly one of field, window, since_previous, time, lookup, ratio, hook, got none",
      ],
      [
        { name: "a", field: "x", time: { part: "hour_of_day" } },
        "pipeline.features.vector[0]: expected exactly one of field, window, since_previous, time, lookup, ratio, hook, got field and time",
      ],
      [{ field: "x" }, "pipeline.features.vector[0].name: expected a feature name, got nothing"],
      [
        { name: "a", field: "x", type: "string" },
        'pipeline.features.vector[0]: "a" is a string: add a one_hot or hash_buckets transform to turn it into numbers',
      ],
      [
        { name: "a", field: "x", type: "string", transform: "log1p" },
        "pipeline.features.vector[0].transform[0]: log1p expects a number value, got a string (encode strings with one_hot or hash_buckets)",
      ],
      [
        { name: "a", field: "x", transform: { one_hot: { vocabulary: ["a"] } } },
        "pipeline.features.vector[0].transform[0]: one_hot expects a string value, got a number (set type: string on the field)",
      ],
      [
        { name: "a", field: "x", type: "number", default: "zero" },
        'pipeline.features.vector[0].default: expected a number (the field\'s type), got "zero"',
      ],
      [
        { name: "a", window: { agg: "sum", over: "1h" } },
        "pipeline.features.vector[0].window.field: sum needs the field to aggregate, got nothing",
      ],
      [
        { name: "a", window: { agg: "count", field: "x", over: "1h" } },
        'pipeline.features.vector[0].window.field: count takes no field, got "x"',
      ],
      [
        { name: "a", field: "x", transform: { clip: { min: 5, max: 1 } } },
        "pipeline.features.vector[0].transform[0].clip: expected min ≤ max, got min 5 > max 1",
      ],
      [
        { name: "a", field: "x", transform: { clip: {} } },
        "pipeline.features.vector[0].transform[0].clip: expected min, max or both, got neither",
      ],
      [
        { name: "a", field: "x", transform: { bucketize: { boundaries: [1, 5, 3] } } },
        "pipeline.features.vector[0].transform[0].bucketize.boundaries[2]: expected boundaries in increasing order, got 3 after 5",
      ],
      [
        { name: "a", field: "x", transform: [{ bucketize: { boundaries: [1] } }, "log1p"] },
        "pipeline.features.vector[0].transform[1]: log1p cannot follow a step that already produced 2 values (encodings come last)",
      ],
      [
        {
          name: "a",
          field: "x",
          type: "string",
          names: ["p", "q"],
          transform: { one_hot: { vocabulary: ["a", "b", "c"] } },
        },
        'pipeline.features.vector[0].names: expected 3 names (one per output of "a"), got 2',
      ],
      [
        {
          name: "a",
          lookup: {
            key: "user:{user_id}",
            field: "limit",
            type: "number",
            compare: { op: "equals", field: "x" },
          },
        },
        "pipeline.features.vector[0].lookup.compare: compares strings: expected type string, got number",
      ],
      [
        {
          name: "a",
          lookup: { key: "user:{u}", field: "limit", type: "number", missing: "default" },
        },
        "pipeline.features.vector[0].lookup.default: expected the value that stands for a missing limit (missing: default), got none",
      ],
      [
        {
          name: "a",
          lookup: { key: "user:{u}", field: "limit", type: "number", missing: "dlq", default: 5 },
        },
        "pipeline.features.vector[0].lookup.default: is used with missing: default only, got missing: dlq",
      ],
      [
        {
          name: "a",
          lookup: { key: "user:{u}", field: "limit", type: "number", default: 5, null_value: 0 },
        },
        "pipeline.features.vector[0].lookup.null_value: is used with missing: null only, got missing: default",
      ],
      [
        { name: "a", lookup: { key: "user:{u}", field: "limit", type: "number", missing: "drop" } },
        'pipeline.features.vector[0].lookup.missing: expected one of default, dlq, null, got "drop"',
      ],
      [
        { name: "a", lookup: { key: "user:user_id", field: "home" } },
        'pipeline.features.vector[0].lookup.key: expected a key template with field placeholders like "user:{user_id}", got "user:user_id"',
      ],
      [
        {
          name: "a",
          ratio: {
            numerator: { field: "x" },
            denominator: { time: { part: "hour_of_day", encoding: "cyclic" } },
          },
        },
        "pipeline.features.vector[0].ratio.denominator: a ratio operand must be one number, got 2 values",
      ],
      [
        { name: "a", field: "x", transform: { hash_buckets: { buckets: 1 } }, type: "string" },
        "pipeline.features.vector[0].transform[0].hash_buckets.buckets: expected a number ≥ 2, got 1",
      ],
      [
        { name: "a", hook: { module: "./h.ts", outputs: ["p"] }, transform: "log1p" },
        "pipeline.features.vector[0].transform: does not apply to a hook: its outputs are named by hook.outputs and computed by the hook",
      ],
      [
        { name: "bad name", field: "x" },
        'pipeline.features.vector[0].name: expected a name of letters, digits, "_", "." or "-" like "tx_count_5m", got "bad name"',
      ],
    ];
    for (const [entry, expected] of cases) {
      assert.deepEqual(problems(spec(entry)), [expected], JSON.stringify(entry));
    }
  });

  it("refuses duplicate output names, including generated ones", () => {
    const lines = problems(
      spec(
        { name: "channel_web", field: "x" },
        {
          name: "channel",
          field: "channel",
          type: "string",
          transform: { one_hot: { vocabulary: ["web"] } },
        },
      ),
    );
    assert.deepEqual(lines, [
      'pipeline.features.vector: output "channel_web" appears twice (at row positions 0 and 1): names must be unique',
    ]);
  });

  it("names outputs of encodings and lets `names` override them", () => {
    const parsed = parseFeatureSpec(
      spec(
        {
          name: "amount",
          field: "amount",
          transform: [{ clip: { max: 1000 } }, { bucketize: { boundaries: [10, 100] } }],
        },
        {
          name: "amount_bucket",
          field: "amount",
          transform: { bucketize: { boundaries: [10, 100], output: "index" } },
        },
        {
          name: "merchant",
          field: "merchant_id",
          type: "string",
          transform: { hash_buckets: { buckets: 3 } },
        },
        {
          name: "dow",
          time: { part: "day_of_week", encoding: "cyclic" },
          names: ["dow_s", "dow_c"],
        },
        { hook: { module: "./geo.ts", outputs: ["km_from_home", "new_device"] } },
      ),
    );
    assert.deepEqual(parsed.names, [
      "amount_0",
      "amount_1",
      "amount_2",
      "amount_bucket",
      "merchant_0",
      "merchant_1",
      "merchant_2",
      "dow_s",
      "dow_c",
      "km_from_home",
      "new_device",
    ]);
    assert.equal(parsed.width, 11);
  });

  it("uses the caller's root path when the section sits elsewhere", () => {
    assert.throws(
      () => parseFeatureSpec(spec({ name: "a", window: { agg: "count", over: 5 } }), ["features"]),
      { message: 'features.vector[0].window.over: expected a duration like "10m", got 5' },
    );
  });
});
