import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerError } from "../errors.js";
import { parseFeatureSpec } from "./feature-spec.js";
import { LookupTable } from "./lookup-table.js";

const spec = parseFeatureSpec({
  entity_key: "user_id",
  event_time: "ts",
  vector: [
    {
      name: "country_mismatch",
      lookup: {
        key: "user:{user_id}",
        field: "home_country",
        compare: { op: "mismatch", field: "country" },
      },
    },
    {
      name: "per_limit",
      ratio: {
        numerator: { field: "amount" },
        denominator: { lookup: { key: "user:{user_id}", field: "limit", type: "number" } },
      },
    },
    {
      name: "merchant_risk",
      lookup: { key: "merchant:{merchant.id}", field: "risk", type: "number" },
    },
  ],
});

describe("LookupTable", () => {
  it("turns a row into its hash: the key from the template, the fields the lookups read", () => {
    const table = new LookupTable(spec, { key: "user:{user_id}" });
    assert.deepEqual(table.fields, ["home_country", "limit"]);
    assert.deepEqual(
      table.record({ user_id: "u-1", home_country: "NG", limit: "250", name: "ignored" }),
      { ok: true, record: { key: "user:u-1", fields: { home_country: "NG", limit: "250" } } },
    );
    // Numbers are written as text; an empty or missing field is left out.
    assert.deepEqual(table.record({ user_id: 7, home_country: "", limit: 12.5 }), {
      ok: true,
      record: { key: "user:7", fields: { limit: "12.5" } },
    });
  });

  it("says why a row cannot be loaded", () => {
    const table = new LookupTable(spec, { key: "user:{user_id}" });
    assert.deepEqual(table.record({ home_country: "NG" }), {
      ok: false,
      reason: "user_id: expected the key's value (a string or number), got nothing",
    });
    assert.deepEqual(table.record({ user_id: "u-2", other: 1 }), {
      ok: false,
      reason: "expected a value for home_country or limit, got none",
    });
    assert.deepEqual(table.record({ user_id: "u-3", home_country: { code: "NG" } }), {
      ok: false,
      reason: "home_country: expected a string or number, got a mapping",
    });
  });

  it("reads the key from another column, or from a nested path", () => {
    const byId = new LookupTable(spec, { key: "user:{user_id}", keyField: "id" });
    assert.deepEqual(byId.record({ id: "u-9", home_country: "FR" }), {
      ok: true,
      record: { key: "user:u-9", fields: { home_country: "FR" } },
    });
    const merchants = new LookupTable(spec, { key: "merchant:{merchant.id}" });
    assert.deepEqual(merchants.record({ merchant: { id: "m-1" }, risk: 0.3 }), {
      ok: true,
      record: { key: "merchant:m-1", fields: { risk: "0.3" } },
    });
    assert.deepEqual(merchants.record({ "merchant.id": "m-2", risk: "0.1" }), {
      ok: true,
      record: { key: "merchant:m-2", fields: { risk: "0.1" } },
    });
  });

  it("needs a key template when the pipeline has several, and one it has", () => {
    assert.throws(
      () => new LookupTable(spec),
      (error: unknown) =>
        ConsumerError.is(error, "config_invalid") &&
        error.message ===
          'key template: expected one of the pipeline\'s lookups, "user:{user_id}", "merchant:{merchant.id}", got none (the pipeline has several)',
    );
    assert.throws(
      () => new LookupTable(spec, { key: "users:{user_id}" }),
      /got "users:\{user_id\}"/,
    );
    const stateless = parseFeatureSpec({
      entity_key: "u",
      event_time: "t",
      vector: [{ name: "a", field: "a" }],
    });
    assert.throws(() => new LookupTable(stateless), /have no lookup to load/);
  });
});
