import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { loadPipelineConfig } from "../config/pipeline-config.js";
import { FRAUD_FEATURE_NAMES } from "@sluice/testing";
import { ConsumerError } from "../errors.js";
import { loadReferences, monitoringTopics } from "./prepare-monitoring.js";

const EXAMPLE = fileURLToPath(
  new URL("../../../examples/pipelines/fraud-monitoring.yaml", import.meta.url),
);

describe("prepareMonitoring's parts", () => {
  it("reads examples/pipelines/fraud-monitoring.yaml and the references of examples/models/fraud", async () => {
    const config = await loadPipelineConfig(EXAMPLE);
    const drift = config.monitoring?.drift;
    assert.equal(drift?.reference.kind, "file");
    assert.deepEqual(monitoringTopics(config), [
      "fraud-drift",
      "fraud-evaluation",
      "fraud-retraining",
    ]);
    assert.equal(config.monitoring?.labels?.topic, "fraud-labels");
    const references = await loadReferences(
      drift?.reference.kind === "file" ? drift.reference.modelRepository : "",
      "fraud",
    );
    assert.deepEqual([...references.keys()], ["1", "2"]);
    // The training script's names are the feature spec's output names (examples/models/README.md).
    assert.deepEqual(
      references.get("1")!.features.map((f) => f.name),
      FRAUD_FEATURE_NAMES,
    );
    assert.ok(references.get("2")!.score !== undefined);
  });

  it("leaves out a version without reference.json, and stops at an invalid one, naming it", async () => {
    const repository = await mkdtemp(join(tmpdir(), "sluice-references-"));
    try {
      await mkdir(join(repository, "m", "1"), { recursive: true });
      await mkdir(join(repository, "m", "2"), { recursive: true });
      await writeFile(join(repository, "m", "2", "reference.json"), "{");
      await assert.rejects(
        loadReferences(repository, "m"),
        (error: unknown) =>
          ConsumerError.is(error, "config_invalid") &&
          error.message.startsWith(
            `${join(repository, "m", "2", "reference.json")}: not valid JSON`,
          ),
      );
      await rm(join(repository, "m", "2"), { recursive: true });
      assert.equal((await loadReferences(repository, "m")).size, 0);
      await assert.rejects(
        loadReferences(repository, "none"),
        /expected a folder holding "none\/<version>\/reference.json"/,
      );
    } finally {
      await rm(repository, { recursive: true, force: true });
    }
  });
});
