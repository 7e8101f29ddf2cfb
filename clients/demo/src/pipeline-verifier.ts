/**
 * `sluice verify`: reads a pipeline's input, output and dead-letter topics from the beginning as a
 * downstream reader would (fresh group, read_committed) and accounts for every input record: did
 * it come out as a prediction, a dead letter, neither (missing), or more than once (duplicate)?
 * Also how long it took: from the event's own time and from the input record's produce time to
 * the prediction's produce time (Kafka record timestamps).
 */
import { HEADERS, type KafkaSecurity, type Prediction, type RecordHeaders } from "@sluice/consumer";
import { collectTopics, type ReadRecord } from "@sluice/testing";

export interface VerifyOptions {
  readonly brokers: readonly string[];
  /** TLS and SASL, as the pipeline file's `kafka:` gives them. @default plaintext */
  readonly security?: KafkaSecurity;
  readonly input: string;
  readonly output: string;
  readonly deadLetter: string;
  /** The topic of predictions routed for review (low confidence), counted when given. */
  readonly review?: string | undefined;
  /** Wait until this many input records are accounted for (or time runs out). */
  readonly expect?: number;
  readonly timeoutMs: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface VerifyReport {
  /** Whether the topics were read to their ends (and `expect` reached) in time. */
  readonly complete: boolean;
  readonly inputs: number;
  readonly predictions: number;
  /** Distinct input records with at least one prediction. */
  readonly predicted: number;
  readonly deadLetters: number;
  readonly deadLettersByCode: Readonly<Record<string, number>>;
  /** Predictions also sent for review (0 without a review topic); they account for nothing. */
  readonly reviews: number;
  /** Ids (or `topic/partition/offset` for records without one) that came out neither way. */
  readonly missing: readonly string[];
  /** Ids predicted more than once, with how often. */
  readonly duplicates: Readonly<Record<string, number>>;
  /** Prediction produce time − the event's own time, ms. */
  readonly eventToPrediction: LatencySummary | undefined;
  /** Prediction produce time − input record produce time, ms. */
  readonly produceToPrediction: LatencySummary | undefined;
}

function text(headers: RecordHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

function inputId(record: ReadRecord): string {
  try {
    const value = JSON.parse(record.value?.toString("utf8") ?? "null") as unknown;
    if (value !== null && typeof value === "object" && "id" in value) {
      const id = value.id;
      if (typeof id === "string" || typeof id === "number") return String(id);
    }
  } catch {
    // A malformed event has no id: its coordinates stand in.
  }
  return `${record.topic}/${record.partition}/${record.offset}`;
}

/** Nearest-rank percentiles. */
export function summarize(values: number[]): LatencySummary | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1]!,
  };
}

export async function verifyPipeline(options: VerifyOptions): Promise<VerifyReport> {
  const coordinate = (partition: string | number | undefined, offset: string | undefined) =>
    `${partition}:${offset}`;
  /** Input records accounted for, by coordinate: the `until` check needs it while reading. */
  const accounted = new Set<string>();
  let seen = 0;
  const until = (records: readonly ReadRecord[]): boolean => {
    for (; seen < records.length; seen++) {
      const record = records[seen]!;
      if (record.topic === options.input || record.topic === options.review) continue;
      accounted.add(
        coordinate(
          text(record.headers, HEADERS.sourcePartition),
          text(record.headers, HEADERS.sourceOffset),
        ),
      );
    }
    return options.expect === undefined || accounted.size >= options.expect;
  };
  const { records, complete } = await collectTopics({
    brokers: options.brokers,
    topics: [
      options.input,
      options.output,
      options.deadLetter,
      ...(options.review === undefined ? [] : [options.review]),
    ],
    until,
    timeoutMs: options.timeoutMs,
    clientId: "sluice-verify",
    ...(options.security === undefined ? {} : { security: options.security }),
  });

  const inputs = new Map<string, ReadRecord>();
  const predicted = new Set<string>();
  const dead = new Set<string>();
  const idCounts = new Map<string, number>();
  const deadLettersByCode: Record<string, number> = {};
  const outputs: { record: ReadRecord; prediction: Prediction }[] = [];
  let deadLetters = 0;
  let reviews = 0;
  for (const record of records) {
    const source = coordinate(
      text(record.headers, HEADERS.sourcePartition),
      text(record.headers, HEADERS.sourceOffset),
    );
    if (record.topic === options.input) {
      inputs.set(coordinate(record.partition, record.offset), record);
    } else if (record.topic === options.output) {
      const prediction = JSON.parse(record.value?.toString("utf8") ?? "null") as Prediction;
      idCounts.set(prediction.id, (idCounts.get(prediction.id) ?? 0) + 1);
      if (!predicted.has(source)) outputs.push({ record, prediction });
      predicted.add(source);
    } else if (record.topic === options.review) {
      reviews++;
    } else {
      deadLetters++;
      dead.add(source);
      const code = text(record.headers, HEADERS.errorCode) ?? "unknown";
      deadLettersByCode[code] = (deadLettersByCode[code] ?? 0) + 1;
    }
  }

  const missing = [...inputs]
    .filter(([key]) => !predicted.has(key) && !dead.has(key))
    .map(([, record]) => inputId(record));
  const duplicates = Object.fromEntries([...idCounts].filter(([, count]) => count > 1));
  const eventLatency: number[] = [];
  const produceLatency: number[] = [];
  for (const { record, prediction } of outputs) {
    const predictedAt = Number(record.timestamp);
    const eventTime = Date.parse(prediction.event_time);
    if (Number.isFinite(eventTime)) eventLatency.push(predictedAt - eventTime);
    const input = inputs.get(
      coordinate(
        text(record.headers, HEADERS.sourcePartition),
        text(record.headers, HEADERS.sourceOffset),
      ),
    );
    if (input !== undefined) produceLatency.push(predictedAt - Number(input.timestamp));
  }
  return {
    complete,
    inputs: inputs.size,
    predictions: [...idCounts.values()].reduce((sum, n) => sum + n, 0),
    predicted: predicted.size,
    deadLetters,
    deadLettersByCode,
    reviews,
    missing,
    duplicates,
    eventToPrediction: summarize(eventLatency),
    produceToPrediction: summarize(produceLatency),
  };
}
