/**
 * Starts the OpenTelemetry SDK when the standard OTEL_* environment asks for export (an OTLP endpoint
 * or OTEL_TRACES_EXPORTER). Otherwise nothing is loaded: spans stay non-recording and cost nearly nothing.
 * Exporter, protocol and sampler come from the standard variables (OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, ...).
 *
 * Traces only: Sluice's metrics are Prometheus and its logs JSON lines, so the SDK starts no metric
 * reader and no log exporter (an OTLP endpoint that takes only traces, like Jaeger, would refuse them).
 */
export interface Telemetry {
  shutdown(): Promise<void>;
}

export function telemetryRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env["OTEL_SDK_DISABLED"] === "true") return false;
  const exporter = env["OTEL_TRACES_EXPORTER"];
  if (exporter !== undefined && exporter !== "") return exporter !== "none";
  return Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
}

export async function startTelemetry(serviceName: string): Promise<Telemetry> {
  if (!telemetryRequested()) return { shutdown: () => Promise.resolve() };
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: process.env["OTEL_SERVICE_NAME"] || serviceName,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
