/** Reads one Prometheus series (or the sum of several) from a sidecar's `/metrics` endpoint. */

/** A sample line: `name{label="value",...} number`, labels optional. */
const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The sum of every sample of `name` whose labels include all of `labels`; 0 when none matches
 * (a counter that never incremented has no series yet).
 */
export async function readMetric(
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics: expected 200, got ${response.status}`);
  const text = await response.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = SAMPLE.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = new Map([...(match[2] ?? "").matchAll(LABEL)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value))
      sum += Number(match[3]);
  }
  return sum;
}
