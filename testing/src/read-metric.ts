/** Reads one Prometheus series (or the sum of several) from a sidecar's or consumer's `/metrics` endpoint. */
import { parsePrometheusText, sumSamples, type MetricSample } from "@sluice/kit";

/** Every sample the endpoint on `port` serves now. */
export async function readMetrics(port: number): Promise<MetricSample[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics: expected 200, got ${response.status}`);
  return parsePrometheusText(await response.text());
}

/**
 * The sum of every sample of `name` whose labels include all of `labels`; 0 when none matches
 * (a counter that never incremented has no series yet).
 */
export async function readMetric(
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sumSamples(await readMetrics(port), name, labels);
}
