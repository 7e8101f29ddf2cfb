/**
 * @sluice/kit: what every Sluice package shares and none owns. It depends on no other Sluice
 * package; every package may depend on it.
 */
export { SluiceError, asError, errorMessage, type SluiceErrorOptions } from "./errors.js";
export {
  LOG_LEVELS,
  createLogger,
  isLogLevel,
  silentLogger,
  type LogLevel,
  type Logger,
  type LoggerOptions,
} from "./log.js";
export {
  serveMetrics,
  type MetricsRoute,
  type MetricsServer,
  type MetricsSource,
} from "./metrics-server.js";
export { describeValue, formatIssues, formatPath, schemaErrorMap } from "./config-issues.js";
export { backoffDelay, sleep, type BackoffSettings } from "./backoff.js";
export {
  hasLabels,
  parsePrometheusText,
  sumSamples,
  type MetricSample,
} from "./prometheus-text.js";
export { startWorker, workerModuleUrl } from "./worker.js";
