/**
 * Reads the Prometheus text exposition format (version 0.0.4) that the sidecar and the consumers
 * serve at `/metrics`: enough for tools and tests to read counters, gauges and histogram buckets
 * without a Prometheus server. Comments (`# HELP`, `# TYPE`) are skipped; label values are
 * unescaped; `+Inf`, `-Inf` and `NaN` are numbers; a trailing timestamp is ignored.
 */

/** One sample line: `name{label="value",...} value`. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:]*/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Every sample of `text`, in order. Throws on a line that is not a sample, naming it. */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    samples.push(parseLine(line, n + 1));
  }
  return samples;
}

/**
 * The sum of the values of `name` whose labels include all of `labels`; 0 when none matches (a
 * counter that never incremented has no series yet).
 */
export function sumSamples(
  samples: readonly MetricSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name === name && hasLabels(sample, labels)) sum += sample.value;
  }
  return sum;
}

/** Whether `sample` carries every label of `labels` with the same value. */
export function hasLabels(sample: MetricSample, labels: Readonly<Record<string, string>>): boolean {
  for (const key in labels) if (sample.labels[key] !== labels[key]) return false;
  return true;
}

function parseLine(line: string, lineNumber: number): MetricSample {
  const fail = (expected: string): never => {
    throw new Error(
      `metrics line ${lineNumber}: expected ${expected}, got ${JSON.stringify(line)}`,
    );
  };
  const name = NAME.exec(line)?.[0] ?? fail("a metric name");
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === "{") {
    at++;
    for (;;) {
      while (line[at] === " ") at++;
      if (line[at] === "}") {
        at++;
        break;
      }
      const label = LABEL_NAME.exec(line.slice(at))?.[0] ?? fail("a label name");
      at += label.length;
      if (line[at] !== "=" || line[at + 1] !== '"') fail(`="value" after label ${label}`);
      at += 2;
      let value = "";
      while (at < line.length && line[at] !== '"') {
        if (line[at] === "\\") {
          const next = line[at + 1];
          value += next === "n" ? "\n" : (next ?? "");
          at += 2;
        } else {
          value += line[at++];
        }
      }
      if (line[at] !== '"') fail(`a closing quote for label ${label}`);
      at++;
      labels[label] = value;
      while (line[at] === " ") at++;
      if (line[at] === ",") at++;
      else if (line[at] !== "}") fail(`"," or "}" after label ${label}`);
    }
  }
  const rest = line.slice(at).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? "") ?? fail("a number after the labels");
  return { name, labels, value };
}

/** As Prometheus reads them (Go's ParseFloat): the special values in any case; prom-client writes `Nan`. */
function parseValue(text: string): number | undefined {
  const special = text.toLowerCase();
  if (special === "+inf" || special === "inf") return Infinity;
  if (special === "-inf") return -Infinity;
  if (special === "nan") return NaN;
  if (text === "") return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
