import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerError } from "../errors.js";
import { decodeLabel } from "./label-join.js";

function problem(value: unknown): string {
  try {
    decodeLabel(value, 0, "labels/0/1");
  } catch (error) {
    assert.ok(ConsumerError.is(error, "invalid_event"));
    return error.message;
  }
  assert.fail("expected an invalid_event error");
}

describe("decodeLabel", () => {
  it("reads id, label and time, falling back to the record's timestamp", () => {
    assert.deepEqual(
      decodeLabel({ id: "tx-1", label: 1, labelled_at: "2024-03-09T10:00:00Z" }, 5, "labels/0/7"),
      {
        id: "tx-1",
        label: 1,
        labelledAt: Date.parse("2024-03-09T10:00:00Z"),
        source: "labels/0/7",
      },
    );
    assert.deepEqual(decodeLabel({ id: 42, label: false }, 5, "s"), {
      id: "42",
      label: 0,
      labelledAt: 5,
      source: "s",
    });
    assert.equal(decodeLabel({ id: "x", label: true, labelled_at: 77 }, 5, "s").labelledAt, 77);
    assert.deepEqual(
      decodeLabel({ tx: "t", fraud: 1, at: 3 }, 5, "s", {
        id: "tx",
        label: "fraud",
        labelledAt: "at",
      }),
      { id: "t", label: 1, labelledAt: 3, source: "s" },
    );
  });

  it("says what was expected and what came", () => {
    assert.equal(problem([1]), "label event: expected a JSON object, got a list");
    assert.equal(
      problem({ label: 1 }),
      'label event: field "id": expected a non-empty string or a number, got nothing',
    );
    assert.equal(
      problem({ id: "a", label: "yes" }),
      'label event "a": field "label": expected 0, 1, true or false, got "yes"',
    );
    assert.equal(
      problem({ id: "a", label: 1, labelled_at: "yesterday" }),
      'label event "a": field "labelled_at": expected an ISO 8601 time or epoch milliseconds, got "yesterday"',
    );
  });
});
