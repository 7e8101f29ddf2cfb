/** The live status page the consumer serves beside `/metrics` (docs/metrics.md, "Status page"). */
export {
  DEFAULT_STATUS_CAPACITY,
  DEFAULT_STATUS_INTERVAL_MS,
  Ring,
  StatusHistory,
  type StatusDocument,
  type StatusHistoryOptions,
} from "./status-history.js";
export { statusRoutes } from "./status-page.js";
export {
  bucketDifference,
  histogramQuantile,
  type CumulativeBucket,
} from "./histogram-quantile.js";
export type { EvaluationMetric, PipelineNow, StatusSample } from "./pipeline-status.js";
