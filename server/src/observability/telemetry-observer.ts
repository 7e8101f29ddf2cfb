/** The server's observer: every event becomes Prometheus series and OpenTelemetry spans. */
import type { SidecarMetrics } from "./metrics.js";
import type {
  BatchExecution,
  ObservedRequest,
  RequestFailure,
  RequestStart,
  RequestSuccess,
  ServerObserver,
  VersionLoad,
} from "./observer.js";
import { endSpan, recordBatch, startRpcSpan } from "./tracing.js";

export class TelemetryObserver implements ServerObserver {
  readonly #metrics: SidecarMetrics;

  constructor(metrics: SidecarMetrics) {
    this.#metrics = metrics;
  }

  requestStarted({ method, model, carrier }: RequestStart): ObservedRequest {
    return {
      receivedAt: performance.now(),
      span: startRpcSpan(method, carrier, { "sluice.model.name": model }),
    };
  }

  requestSucceeded({ receivedAt, span }: ObservedRequest, success: RequestSuccess): void {
    const labels = { model: success.model, version: String(success.version) };
    this.#metrics.requests.inc({ ...labels, outcome: "success", reason: "" });
    this.#metrics.requestDuration.observe(labels, (performance.now() - receivedAt) / 1000);
    this.#metrics.queueDuration.observe(labels, success.queueMs / 1000);
    span.setAttribute("sluice.model.version", labels.version);
    endSpan(span);
  }

  requestFailed({ span }: ObservedRequest, failure: RequestFailure): void {
    this.#metrics.requests.inc({
      model: failure.model,
      version: failure.version,
      outcome: "failure",
      reason: failure.reason,
    });
    endSpan(span, { code: failure.status, message: failure.message });
  }

  batchExecuted(batch: BatchExecution): void {
    const labels = { model: batch.model, version: String(batch.version) };
    this.#metrics.executions.inc(labels);
    this.#metrics.inferences.inc(labels, batch.rows);
    this.#metrics.batchSize.observe(labels, batch.rows);
    this.#metrics.computeDuration.observe(labels, batch.computeMs / 1000);
    recordBatch(batch);
  }

  versionLoaded({ model, version, durationMs, failure }: VersionLoad): void {
    const labels = { model, version: String(version) };
    this.#metrics.loads.inc({ ...labels, outcome: failure === undefined ? "success" : "failure" });
    if (failure === undefined) this.#metrics.loadDuration.observe(labels, durationMs / 1000);
  }

  versionUnloaded(model: string, version: number): void {
    this.#metrics.unloads.inc({ model, version: String(version) });
  }
}
