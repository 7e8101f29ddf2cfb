/**
 * What the consumers say about themselves: the observer the pipeline reports to and its
 * Prometheus implementation (what `sluice consume` serves at `/metrics`), the micro-batch spans,
 * and W3C trace context in Kafka headers.
 */
export { STAGES } from "./pipeline-observer.js";
export type {
  DeliveredBatch,
  PipelineObserver,
  PipelineStats,
  Stage,
  StageSeconds,
  TopicPartition,
  VersionScores,
} from "./pipeline-observer.js";
export { ConsumerMetrics } from "./consumer-metrics.js";
export type { ConsumerMetricsOptions } from "./consumer-metrics.js";
export { PipelineMetrics } from "./pipeline-metrics.js";
export type { PipelineCounts, PipelineIdentity, VersionCounts } from "./pipeline-metrics.js";
export { EventHistogram, HistogramSeries } from "./event-histogram.js";
export {
  DEFAULT_STATUS_CAPACITY,
  DEFAULT_STATUS_INTERVAL_MS,
  StatusHistory,
  histogramQuantile,
  type PipelineNow,
  type StatusDocument,
  type StatusHistoryOptions,
  type StatusSample,
} from "./status/index.js";
export type { EventHistogramOptions } from "./event-histogram.js";
// For a downstream consumer of predictions that continues their traces with its own SDK.
// The load generator starts its traces with the same helpers, so both ends speak one convention.
export {
  CONSUMER_TRACER,
  injectTraceContext,
  kafkaHeadersGetter,
  kafkaHeadersSetter,
  messagingAttributes,
  messagingSpanName,
  tracePropagationEnabled,
} from "./kafka-trace-context.js";
export { LABEL_OUTCOMES, MonitoringMetrics } from "./monitoring-metrics.js";
export type { LabelOutcome } from "./monitoring-metrics.js";
