import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { configProblem } from "@sluice/testing";
import { parseMonitoringConfig } from "./monitoring-config.js";

function problem(value: unknown): string {
  return configProblem(() => parseMonitoringConfig(value, "fraud"));
}

describe("parseMonitoringConfig", () => {
  it("fills every default", () => {
    const config = parseMonitoringConfig(
      {
        drift: { reference: "file", model_repository: "../models" },
        evaluation: {},
        labels: { topic: "fraud-labels" },
      },
      "fraud",
      (path) => resolve("/pipelines", path),
    );
    assert.deepEqual(config.drift, {
      reference: { kind: "file", modelRepository: "/models" },
      window: { kind: "events", events: 10_000, slices: 10 },
      minEvents: 1_000,
      bands: { moderate: 0.1, major: 0.25 },
      hysteresis: 0.02,
      topic: undefined,
    });
    assert.deepEqual(config.evaluation, {
      window: { kind: "events", events: 10_000, slices: 10 },
      threshold: 0.5,
      thresholds: {},
      topic: undefined,
    });
    assert.deepEqual(config.labels, {
      topic: "fraud-labels",
      idField: "id",
      labelField: "label",
      timeField: "labelled_at",
      ttlMs: 30 * 86_400_000,
      keyPrefix: "sluice:labels:fraud:",
    });
    assert.deepEqual(parseMonitoringConfig({}, "fraud"), {
      drift: undefined,
      evaluation: undefined,
      labels: undefined,
    });
  });

  it("reads a warm-up reference, time windows and per-version thresholds", () => {
    const config = parseMonitoringConfig(
      {
        drift: { reference: { warmup_events: 5000 }, window: { duration: "1h", slices: 12 } },
        evaluation: { window: { duration: "6h" }, thresholds: { "2": 0.4 } },
        labels: { topic: "labels", ttl: "45d" },
      },
      "fraud",
    );
    assert.deepEqual(config.drift?.reference, { kind: "warmup", events: 5_000 });
    assert.deepEqual(config.drift?.window, { kind: "time", durationMs: 3_600_000, slices: 12 });
    assert.deepEqual(config.evaluation?.thresholds, { "2": 0.4 });
    assert.equal(config.labels?.ttlMs, 45 * 86_400_000);
  });

  it("names the path and what was expected", () => {
    assert.equal(
      problem({ drift: { reference: "file" } }),
      "pipeline.monitoring.drift.model_repository: expected the model repository's folder (where each version's reference.json is) with reference: file, got nothing",
    );
    assert.equal(
      problem({
        drift: { reference: { warmup_events: 10 }, bands: { moderate: 0.3, major: 0.2 } },
      }),
      "pipeline.monitoring.drift.bands: expected 0 < moderate < major, got moderate 0.3, major 0.2",
    );
    assert.equal(
      problem({ drift: { reference: { warmup_events: 10 }, hysteresis: 0.5 } }),
      "pipeline.monitoring.drift.hysteresis: expected less than bands.moderate (0.1), got 0.5",
    );
    assert.equal(
      problem({ labels: { topic: "no spaces" } }),
      'pipeline.monitoring.labels.topic: expected a topic name of letters, digits, ".", "_" or "-" (at most 249), got "no spaces"',
    );
    assert.equal(
      problem({ evaluation: { threshold: 2 } }),
      "pipeline.monitoring.evaluation.threshold: expected a number from 0 to 1, got 2",
    );
    assert.equal(
      problem({ labels: { topic: "t", ttl: "forever" } }),
      'pipeline.monitoring.labels.ttl: expected a duration like "10m", got "forever"',
    );
  });
});
