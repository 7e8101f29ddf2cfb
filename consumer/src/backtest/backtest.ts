/**
 * An offline backtest: the input topic's history, replayed through the pipeline's own stages
 * (decode → features → score → records, micro-batch-stages.ts) with the pipeline's feature
 * extractor and the sidecar, scored by a candidate version and, optionally, the version it should
 * replace, and joined to the labels when there are some. It knows only the ports: the topic's
 * history (manual assignment, nothing committed), a feature store of its own (the caller gives it
 * one under a key prefix no pipeline uses), the inference port. Nothing is produced: the records
 * the pipeline would write are counted, never sent.
 */
import { backoffDelay, errorMessage, sleep, silentLogger, type Logger } from "@sluice/kit";
import type { PipelineConfig } from "../config/pipeline-config.js";
import { ConsumerError } from "../errors.js";
import { FeatureExtractor } from "../features/feature-extractor.js";
import { decodeLabel } from "../lifecycle/label-join.js";
import { DEFAULT_THRESHOLD } from "../lifecycle/online-evaluator.js";
import { NO_TRACE } from "../observability/micro-batch-trace.js";
import { decodeJson } from "../pipeline/json-decoder.js";
import {
  buildRecords,
  computeFeatures,
  decodeRecords,
  type RecordSettings,
} from "../pipeline/micro-batch-stages.js";
import { bindModel } from "../pipeline/model-binding.js";
import { eventId, fp32Number } from "../pipeline/output-records.js";
import { Scorer, type ScoreOutcome } from "../pipeline/scorer.js";
import type { FeatureStore } from "../ports/feature-store.js";
import type { Inference } from "../ports/inference.js";
import type { InputRecord } from "../ports/kafka.js";
import type { PartitionRange, TopicHistory } from "../ports/topic-history.js";
import { BacktestTally, type TallyReport, type VersionScore } from "./backtest-tally.js";
import { describeBound, resolveRanges, type RangeBound } from "./backtest-range.js";

/**
 * Attempts of a micro-batch that fails retryably (the sidecar or Redis away for a moment) before
 * the backtest gives up: a live pipeline retries forever, a report should not wait forever.
 */
export const DEFAULT_BACKTEST_ATTEMPTS = 5;

export interface BacktestSettings {
  /** The candidate: a version number or label. */
  readonly version: string;
  /** The version it is compared with. @default none */
  readonly against?: string;
  /** @default earliest */
  readonly from?: RangeBound;
  /** @default the end of each partition when the backtest starts */
  readonly to?: RangeBound;
  /**
   * Events this long before `from` (which must then be a time) go through the features first,
   * unscored, so the windows of the range's first events hold what the live pipeline's held.
   * @default none: the windows start empty at `from`
   */
  readonly warmUpMs?: number;
  /** Labels `{"id": …, "label": 0|1, "labelled_at": …}`, read whole before the replay. @default none */
  readonly labelsTopic?: string;
  /** A decision is "positive" at or above it. @default 0.5 (the label the example models give) */
  readonly threshold?: number;
  /** Hears after each micro-batch how far the replay is. */
  readonly onProgress?: (progress: BacktestProgress) => void;
  /** Stops the replay early; the report says `complete: false`. */
  readonly signal?: AbortSignal;
  /** @default DEFAULT_BACKTEST_ATTEMPTS */
  readonly attempts?: number;
  /** @default dropped */
  readonly log?: Logger;
}

export interface BacktestDependencies {
  readonly history: TopicHistory;
  readonly inference: Inference;
  /** A store whose state no pipeline reads or writes (a key prefix of the backtest's own). */
  readonly store: FeatureStore;
}

export interface BacktestProgress {
  /** Offsets passed so far, over every partition. */
  readonly done: number;
  /** Offsets in the range (transaction markers included, so `read` may end below it). */
  readonly total: number;
  readonly read: number;
  readonly predictions: number;
  readonly deadLetters: number;
  readonly elapsedMs: number;
}

export interface LabelsRead {
  readonly topic: string;
  /** Label records read. */
  readonly read: number;
  /** Distinct ids with a label. */
  readonly ids: number;
  /** Label records that are not a label, with the first reason. */
  readonly invalid: number;
  readonly invalidExample: string | undefined;
}

export interface BacktestReport extends TallyReport {
  readonly pipeline: string;
  readonly model: string;
  readonly topic: string;
  readonly from: string;
  readonly to: string;
  readonly partitions: { partition: number; from: string; to: string }[];
  /** With a warm-up: where each partition's warm-up began, and the records it fed the features. */
  readonly warmUp:
    { partitions: { partition: number; from: string }[]; records: number } | undefined;
  readonly labels: LabelsRead | undefined;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  /** False when stopped before the end of the range. */
  readonly complete: boolean;
}

/** Runs a backtest of `config`'s pipeline on the ports; resolves with its report. */
export async function runBacktest(
  config: PipelineConfig,
  deps: BacktestDependencies,
  settings: BacktestSettings,
): Promise<BacktestReport> {
  const log = settings.log ?? silentLogger;
  const threshold = settings.threshold ?? DEFAULT_THRESHOLD;
  const topic = config.topics.input;
  const extractor = new FeatureExtractor(config.features, deps.store, { baseDir: config.baseDir });
  await extractor.ready();
  const requested =
    settings.against === undefined ? [settings.version] : [settings.version, settings.against];
  const scorers = await Promise.all(
    requested.map(async (version) => {
      const numeric = /^\d+$/.test(version) ? Number(version) : version;
      const binding = await bindModel(
        deps.inference,
        { ...config.model, version: numeric },
        extractor.width,
        config.batch.maxEvents,
      ).catch((error: unknown) => {
        const failure = ConsumerError.from(error);
        throw new ConsumerError(
          failure.code,
          `cannot read model "${config.model.name}" version ${version} from the sidecar at ${config.model.sidecar}: ${failure.message}`,
          { cause: failure, retryable: false },
        );
      });
      return new Scorer(deps.inference, binding, config.model.deadlineMs);
    }),
  );

  const from = settings.from ?? { kind: "earliest" };
  const to = settings.to ?? { kind: "end" };
  const ranges = await resolveRanges(deps.history, topic, from, to).catch((error: unknown) => {
    throw new Error(`cannot read the input topic "${topic}": ${errorMessage(error)}`, {
      cause: error,
    });
  });
  const warmUp = await warmUpStarts(deps.history, topic, from, ranges, settings.warmUpMs);
  let warmUpRecords = 0;
  const labels =
    settings.labelsTopic === undefined
      ? undefined
      : await readLabels(deps.history, settings.labelsTopic, settings.signal);

  const tally = new BacktestTally(requested as [string] | [string, string], threshold);
  const recordSettings: RecordSettings = {
    model: config.model.name,
    idField: config.decoder.idField,
    outputTopic: config.topics.output,
    deadLetterTopic: config.topics.deadLetter,
    reviewTopic: undefined,
    reviewBelow: 0,
  };
  const total = ranges.reduce((n, r) => n + Number(r.to - r.from), 0);
  const done = new Map(ranges.map((r) => [r.partition, r.from]));
  const startedAt = performance.now();
  const progress = (): BacktestProgress => {
    const report = tally.counts();
    return {
      done: ranges.reduce((n, r) => n + Number((done.get(r.partition) ?? r.from) - r.from), 0),
      total,
      read: report.read,
      predictions: report.predictions,
      deadLetters: report.deadLetters,
      elapsedMs: performance.now() - startedAt,
    };
  };
  log.info(
    { topic, ranges: ranges.map(describeRange) },
    `backtest of "${config.name}": ${total} offsets of ${topic}`,
  );

  const attempts = settings.attempts ?? DEFAULT_BACKTEST_ATTEMPTS;
  const microBatch = async (partition: number, records: readonly InputRecord[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const decoded = decodeRecords(records);
        const featured = await computeFeatures(extractor, topic, partition, records, decoded);
        const outcomes = await Promise.all(
          scorers.map((scorer) => scorer.score(featured.rows, featured.count)),
        );
        const sources = records.map((record) => ({ topic, partition, record }));
        // The records the pipeline would write, made as it makes them (and then dropped).
        buildRecords(recordSettings, sources, featured.events, outcomes[0]!, NO_TRACE, Date.now());
        tally.read(records.length);
        featured.events.forEach((event, i) => {
          if (event.kind === "failed") {
            tally.deadLetter(event.error.code, event.error.message);
            return;
          }
          if (event.kind !== "featured") return;
          const scores = outcomes.map((o) => versionScore(o[event.row]));
          const candidate = outcomes[0]![event.row];
          if (candidate !== undefined && !candidate.ok) {
            tally.deadLetter(candidate.error.code, candidate.error.message);
          }
          const id = eventId(sources[i]!, event.value, config.decoder.idField);
          tally.scored(scores, labels?.byId.get(id));
        });
        return;
      } catch (error) {
        const failure = ConsumerError.from(error);
        if (!failure.retryable || attempt >= attempts) throw failure;
        const delayMs = backoffDelay(attempt, config.retry);
        log.warn(
          { code: failure.code, attempt, delayMs },
          `${topic}[${partition}]: ${failure.message}; retrying in ${delayMs} ms`,
        );
        await sleep(delayMs);
      }
    }
  };

  /** The warm-up: features only, their state recorded, nothing scored or counted. */
  const warm = async (partition: number, records: readonly InputRecord[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await computeFeatures(extractor, topic, partition, records, decodeRecords(records));
        warmUpRecords += records.length;
        return;
      } catch (error) {
        const failure = ConsumerError.from(error);
        if (!failure.retryable || attempt >= attempts) throw failure;
        await sleep(backoffDelay(attempt, config.retry));
      }
    }
  };
  const scoredFrom = new Map(ranges.map((r) => [r.partition, r.from]));

  await deps.history.read(
    topic,
    warmUp === undefined
      ? ranges
      : ranges.map((r) => ({ ...r, from: warmUp.get(r.partition) ?? r.from })),
    async ({ partition, records, next }) => {
      const first = scoredFrom.get(partition) ?? 0n;
      const cut = records.findIndex((record) => BigInt(record.offset) >= first);
      const warming = cut < 0 ? records : records.slice(0, cut);
      const scoring = cut < 0 ? [] : records.slice(cut);
      for (let start = 0; start < warming.length; start += config.batch.maxEvents) {
        await warm(partition, warming.slice(start, start + config.batch.maxEvents));
      }
      for (let start = 0; start < scoring.length; start += config.batch.maxEvents) {
        await microBatch(partition, scoring.slice(start, start + config.batch.maxEvents));
      }
      if (next > first) done.set(partition, next);
      settings.onProgress?.(progress());
    },
    settings.signal,
  );

  const seconds = (performance.now() - startedAt) / 1000;
  const report = tally.report();
  return {
    pipeline: config.name,
    model: config.model.name,
    topic,
    from: describeBound(from),
    to: describeBound(to),
    partitions: ranges.map((r) => ({
      partition: r.partition,
      from: String(r.from),
      to: String(r.to),
    })),
    warmUp:
      warmUp === undefined
        ? undefined
        : {
            partitions: [...warmUp].map(([partition, offset]) => ({
              partition,
              from: String(offset),
            })),
            records: warmUpRecords,
          },
    ...report,
    labels: labels?.summary,
    seconds,
    eventsPerSecond: seconds > 0 ? report.read / seconds : 0,
    complete: ranges.every((r) => (done.get(r.partition) ?? r.from) >= r.to),
  };
}

/**
 * Per partition, where the warm-up starts: the first record at or after `from` − `warmUpMs`, never
 * after the range's own start; undefined without a warm-up.
 */
async function warmUpStarts(
  history: TopicHistory,
  topic: string,
  from: RangeBound,
  ranges: readonly PartitionRange[],
  warmUpMs: number | undefined,
): Promise<Map<number, bigint> | undefined> {
  if (warmUpMs === undefined || warmUpMs <= 0) return undefined;
  if (from.kind !== "time") {
    throw new ConsumerError(
      "config_invalid",
      `a warm-up needs the range to start at a time (an ISO 8601 time or a duration ago), got ${describeBound(from)}`,
      { retryable: false },
    );
  }
  const offsets = await history.offsetsForTime(topic, from.ms - warmUpMs);
  return new Map(
    ranges.map((r) => {
      const offset = offsets.get(r.partition) ?? r.from;
      return [r.partition, offset < r.from ? offset : r.from];
    }),
  );
}

function describeRange(range: PartitionRange): string {
  return `[${range.partition}] ${range.from}..${range.to}`;
}

/** The pipeline's score of a row: P(class 1), as the prediction record writes it. */
function versionScore(outcome: ScoreOutcome | undefined): VersionScore {
  if (outcome === undefined || !outcome.ok) return undefined;
  const { probabilities, modelVersion } = outcome.score;
  const p = probabilities.length > 1 ? probabilities[1] : probabilities[0];
  return { score: fp32Number(p ?? Number.NaN), version: modelVersion };
}

/**
 * The label topic, read whole (labels come late: those of the range's events may be anywhere in
 * it), into a map by id; a later label (by labelled_at) of an id replaces an earlier one.
 */
async function readLabels(
  history: TopicHistory,
  topic: string,
  signal: AbortSignal | undefined,
): Promise<{ byId: Map<string, number>; summary: LabelsRead }> {
  const extents = await history.extents(topic).catch((error: unknown) => {
    throw new Error(`cannot read the label topic "${topic}": ${errorMessage(error)}`, {
      cause: error,
    });
  });
  const byId = new Map<string, { label: number; at: number }>();
  let read = 0;
  let invalid = 0;
  let invalidExample: string | undefined;
  await history.read(
    topic,
    extents.map((e) => ({ partition: e.partition, from: e.start, to: e.end })),
    ({ records }) => {
      for (const record of records) {
        read++;
        const decoded = decodeJson(record.value);
        try {
          if (!decoded.ok) throw decoded.error;
          const label = decodeLabel(decoded.value, Number(record.timestamp), topic);
          const seen = byId.get(label.id);
          if (seen === undefined || label.labelledAt >= seen.at) {
            byId.set(label.id, { label: label.label, at: label.labelledAt });
          }
        } catch (error) {
          invalid++;
          invalidExample ??= ConsumerError.from(error).message;
        }
      }
      return Promise.resolve();
    },
    signal,
  );
  return {
    byId: new Map([...byId].map(([id, { label }]) => [id, label])),
    summary: { topic, read, ids: byId.size, invalid, invalidExample },
  };
}
