import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatTable } from "./table.js";

describe("formatTable", () => {
  test("pads every column but the last to its widest cell", () => {
    assert.equal(
      formatTable(
        ["NAME", "STATE", "REASON"],
        [
          ["fraud", "READY", ""],
          ["fraud-mlp", "UNAVAILABLE", "model.onnx: file not found"],
        ],
      ),
      [
        "NAME       STATE        REASON",
        "fraud      READY",
        "fraud-mlp  UNAVAILABLE  model.onnx: file not found",
      ].join("\n"),
    );
  });
});
