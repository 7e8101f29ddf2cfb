/** Prometheus metrics of the consumers: what `sluice consume` serves at `/metrics`. */
export { ConsumerMetrics, PipelineMetrics, STAGES } from "./consumer-metrics.js";
export type {
  ConsumerMetricsOptions,
  DeliveredBatch,
  PipelineIdentity,
  Stage,
  StageSeconds,
  VersionScores,
} from "./consumer-metrics.js";
export { EventHistogram, HistogramSeries } from "./event-histogram.js";
export type { EventHistogramOptions } from "./event-histogram.js";
export { MetricsServer } from "./metrics-server.js";
