/**
 * A pipeline's `monitoring:` and `retraining:` sections at work (docs/monitoring.md): drift per
 * version, the label topic's consumer and the label join, the online evaluation, retraining events.
 */
export { ModelMonitor } from "./model-monitor.js";
export type {
  DriftEvent,
  ModelMonitorOptions,
  RetrainingEventJson,
  RetrainingSink,
} from "./model-monitor.js";
export { LabelConsumer } from "./label-consumer.js";
export { loadReferences, monitoringTopics } from "./prepare-monitoring.js";
