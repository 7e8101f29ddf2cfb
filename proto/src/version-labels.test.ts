import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelConfigSchema, ModelParameterSchema } from "./gen/inference/model_config_pb.js";
import { versionLabelParameters, versionLabelsOf } from "./version-labels.js";

describe("version labels in ModelConfig.parameters", () => {
  test("one string parameter per label, read back in order through the wire", () => {
    const labels = new Map([
      ["stable", 1],
      ["canary", 2],
    ]);
    const config = create(ModelConfigSchema, {
      name: "fraud",
      parameters: { other: { stringValue: "kept" }, ...versionLabelParameters(labels) },
    });
    const decoded = fromBinary(ModelConfigSchema, toBinary(ModelConfigSchema, config));
    assert.equal(decoded.parameters["sluice.version_label.canary"]?.stringValue, "2");
    assert.deepEqual(versionLabelsOf(decoded.parameters), { stable: "1", canary: "2" });
  });

  test("a config without labels (Triton's, or a model without any) has none", () => {
    assert.deepEqual(versionLabelParameters(new Map()), {});
    assert.deepEqual(
      versionLabelsOf({ other: create(ModelParameterSchema, { stringValue: "x" }) }),
      {},
    );
  });
});
