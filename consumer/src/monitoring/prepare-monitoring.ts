/**
 * At start, a pipeline with a `monitoring:` section reads the reference.json of every version in
 * its model repository (`drift.reference: file`), opens a producer when a drift, evaluation or
 * retraining topic asks for one, and puts together the `ModelMonitor` and the commit hook that
 * feeds it: the published predictions recorded in the label join before each commit, the pairs
 * they complete evaluated after it (docs/monitoring.md).
 */
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@sluice/kit";
import type { PipelineConfig } from "../config/pipeline-config.js";
import { ConsumerError } from "../errors.js";
import type { MonitoringConfig } from "../lifecycle/monitoring-config.js";
import {
  REFERENCE_FILE_NAME,
  loadReference,
  type ReferenceDistributions,
} from "../lifecycle/reference-distribution.js";
import { MonitoringMetrics } from "../observability/monitoring-metrics.js";
import { DEFAULT_EVALUATION_WINDOW, DEFAULT_THRESHOLD } from "../lifecycle/online-evaluator.js";
import type { CommitHook } from "../pipeline/partition-handler.js";
import type { KafkaClient, KafkaProducer } from "../ports/kafka.js";
import type { LabelJoinStore } from "../ports/label-join.js";
import { ModelMonitor, type RetrainingSink } from "./model-monitor.js";

export interface PreparedMonitoring {
  readonly monitor: ModelMonitor;
  readonly metrics: MonitoringMetrics;
  /** After delivery: records the predictions in the label join; after the commit: the monitor. */
  readonly commitHook: CommitHook;
  /** Whether the micro-batches list their predictions for the label join. */
  readonly recordPredictions: boolean;
  /** The topics it writes to, for the pipeline to create with its own. */
  readonly topics: readonly string[];
  /** Disconnects its producer. */
  close(): Promise<void>;
}

export interface MonitoringDependencies {
  readonly kafka: KafkaClient;
  readonly log: Logger;
  /** With `monitoring.labels`: where predictions and labels meet. */
  readonly labelJoin: LabelJoinStore | undefined;
  /** With `retraining.webhook`: POSTs the event. */
  readonly webhook?: RetrainingSink | undefined;
}

/** The topics the monitoring and retraining sections write to. */
export function monitoringTopics(config: PipelineConfig): string[] {
  const topics = [
    config.monitoring?.drift?.topic,
    config.monitoring?.evaluation?.topic,
    config.retraining?.topic,
  ];
  return topics.filter((topic): topic is string => topic !== undefined);
}

/**
 * Every `<repository>/<model>/<version>/reference.json` there is, by version. Versions without one
 * are left out (and warned about when they answer); a file that is there but invalid stops the
 * start, naming it.
 */
export async function loadReferences(
  repository: string,
  model: string,
): Promise<Map<string, ReferenceDistributions>> {
  const folder = join(repository, model);
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (error) {
    throw new ConsumerError(
      "config_invalid",
      `pipeline.monitoring.drift.model_repository: expected a folder holding "${model}/<version>/${REFERENCE_FILE_NAME}", cannot read ${folder}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const references = new Map<string, ReferenceDistributions>();
  for (const entry of entries
    .filter((e) => /^\d+$/.test(e))
    .sort((a, b) => Number(a) - Number(b))) {
    const path = join(folder, entry, REFERENCE_FILE_NAME);
    const present = await access(path).then(
      () => true,
      () => false,
    );
    if (present) references.set(String(Number(entry)), await loadReference(path));
  }
  return references;
}

export async function prepareMonitoring(
  config: PipelineConfig,
  monitoring: MonitoringConfig,
  columns: readonly string[],
  deps: MonitoringDependencies,
): Promise<PreparedMonitoring> {
  const { log } = deps;
  if (monitoring.labels !== undefined && deps.labelJoin === undefined) {
    throw new ConsumerError(
      "config_invalid",
      `pipeline "${config.name}": monitoring.labels needs a label join store, and none was given`,
    );
  }
  const drift = monitoring.drift;
  let references = new Map<string, ReferenceDistributions>();
  if (drift?.reference.kind === "file") {
    references = await loadReferences(drift.reference.modelRepository, config.model.name);
    if (references.size === 0) {
      log.warn(
        {},
        `pipeline "${config.name}": no ${REFERENCE_FILE_NAME} under ${join(drift.reference.modelRepository, config.model.name)}; drift is not monitored until one is there and the pipeline restarts`,
      );
    }
  }
  const topics = monitoringTopics(config);
  let producer: KafkaProducer | undefined;
  if (topics.length > 0) {
    producer = deps.kafka.producer();
    await producer.connect();
  }
  const metrics = new MonitoringMetrics();
  const retraining = config.retraining;
  const monitor = new ModelMonitor({
    pipeline: config.name,
    model: config.model.name,
    columns,
    drift,
    references,
    // Labels without an evaluation section are evaluated with its defaults.
    evaluation:
      monitoring.evaluation ??
      (monitoring.labels === undefined
        ? undefined
        : {
            window: DEFAULT_EVALUATION_WINDOW,
            threshold: DEFAULT_THRESHOLD,
            thresholds: {},
            topic: undefined,
          }),
    retraining: retraining === undefined ? undefined : { ...retraining, webhook: deps.webhook },
    metrics,
    log,
    producer,
  });
  const labelJoin = deps.labelJoin;
  const commitHook: CommitHook = async (result) => {
    const entries = result.predictionEntries;
    if (labelJoin === undefined || entries === undefined || entries.length === 0) {
      return () => monitor.committed();
    }
    const outcome = await labelJoin.recordPredictions(entries);
    return () => {
      // A replayed pair belongs to a batch that never committed: not counted yet, so counted now.
      metrics.label("joined", outcome.joined.length);
      metrics.label("waiting", outcome.waiting);
      metrics.label("duplicate", outcome.duplicates + outcome.conflicts);
      monitor.committed(outcome.joined);
    };
  };
  if (drift !== undefined) {
    const source =
      drift.reference.kind === "file"
        ? `reference.json of version${references.size === 1 ? "" : "s"} ${[...references.keys()].join(", ") || "(none)"}`
        : `the first ${drift.reference.events} events of each version`;
    log.info(
      {},
      `pipeline "${config.name}": drift monitored against ${source}${drift.topic === undefined ? "" : `, band changes to ${drift.topic}`}`,
    );
  }
  return {
    monitor,
    metrics,
    commitHook,
    recordPredictions: labelJoin !== undefined,
    topics,
    close: async () => {
      await producer?.disconnect();
    },
  };
}
