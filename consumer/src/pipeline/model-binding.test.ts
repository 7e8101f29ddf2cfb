import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ModelDescription } from "../ports/inference.js";
import { checkModel } from "./model-binding.js";

const fraud: ModelDescription = {
  name: "fraud",
  versions: ["1", "2"],
  inputs: [{ name: "features", datatype: "FP32", shape: [-1, 20] }],
  outputs: [
    { name: "label", datatype: "INT64", shape: [-1] },
    { name: "probabilities", datatype: "FP32", shape: [-1, 2] },
  ],
  maxBatchSize: 256,
};
const settings = { name: "fraud", version: "stable", input: undefined };

describe("checkModel", () => {
  it("binds the only input and the probabilities and label outputs", () => {
    assert.deepEqual(checkModel(fraud, settings, 20, 256), {
      model: "fraud",
      version: "stable",
      input: "features",
      width: 20,
      probabilities: "probabilities",
      label: "label",
    });
  });

  it("refuses rows of another width, saying both sides", () => {
    assert.throws(() => checkModel(fraud, settings, 12, 64), {
      code: "config_invalid",
      message:
        'pipeline.features: model "fraud" version stable input "features" expects FP32 [-1, 20], the features give FP32 [-1, 12] (12 features per event)',
    });
  });

  it("refuses another datatype", () => {
    const fp64 = { ...fraud, inputs: [{ name: "features", datatype: "FP64", shape: [-1, 20] }] };
    assert.throws(() => checkModel(fp64, settings, 20, 64), /expects FP64 \[-1, 20\]/);
  });

  it("refuses an input the model does not have", () => {
    assert.throws(() => checkModel(fraud, { ...settings, input: "x" }, 20, 64), {
      message: `pipeline.model.input: expected one of model "fraud" version stable's inputs "features", got "x"`,
    });
  });

  it("refuses micro-batches larger than the model's max_batch_size", () => {
    assert.throws(() => checkModel(fraud, settings, 20, 512), {
      message:
        'pipeline.batch.max_events: expected at most model "fraud" version stable\'s max_batch_size 256, got 512',
    });
  });
});
