/**
 * What the consumers say about themselves: Prometheus metrics (what `sluice consume` serves at
 * `/metrics`), the micro-batch spans, and W3C trace context in Kafka headers.
 */
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
