/**
 * Joining late labels to predictions by id: what the pipeline records, what comes back, and how a
 * label event is read. The store (`RedisLabelJoin`) keeps both sides until the other arrives,
 * whichever comes first, for a TTL longer than the label delay.
 *
 * Replay-idempotent: each id joins once, and the join belongs to the message that completed it
 * (its `source`, e.g. `topic/partition/offset`). Processing that same message again — a replay
 * after a crash, a retried micro-batch — returns the same pair marked `replay`; any other message
 * for an id already joined (a duplicate label, a re-scored prediction) joins nothing. So whoever
 * feeds the evaluator once a micro-batch is committed counts each pair once: a replayed batch is
 * one that never committed, whose pairs were not counted.
 */
import { ConsumerError } from "../errors.js";

/** A prediction as published: recorded for its label to find. */
export interface PredictionEntry {
  /** The prediction's id (the event's id field). */
  readonly id: string;
  readonly model: string;
  readonly version: string;
  /** The rollout arm ("" without a rollout). */
  readonly arm: string;
  readonly score: number;
  /** Epoch ms. */
  readonly predictedAt: number;
  /** The input message, e.g. `transactions/3/1042`: who completes a join. */
  readonly source: string;
}

/** A label as it arrived on the label topic. */
export interface LabelEntry {
  readonly id: string;
  /** 0 or 1. */
  readonly label: number;
  /** Epoch ms: the label event's time, else the record's timestamp. */
  readonly labelledAt: number;
  /** The label message, e.g. `labels/0/77`. */
  readonly source: string;
}

/** A prediction with its label. */
export interface JoinedLabel {
  readonly id: string;
  readonly model: string;
  readonly version: string;
  readonly arm: string;
  readonly score: number;
  readonly label: number;
  readonly predictedAt: number;
  readonly labelledAt: number;
  /** This message had completed this join before: its batch is retried or replayed (it never committed). */
  readonly replay: boolean;
}

export interface LabelJoinOutcome {
  /** Pairs this call completed (or completed before, `replay`). */
  readonly joined: readonly JoinedLabel[];
  /** Entries stored, their other side not there (yet). */
  readonly waiting: number;
  /** Entries for an id another message already joined, or whose side was already stored. */
  readonly duplicates: number;
  /** Labels for an id whose stored label differs: the first one stands. */
  readonly conflicts: number;
}

/** Where predictions and labels meet. */
export interface LabelJoinStore {
  /** Records published predictions (after the output is acknowledged, before the commit). */
  recordPredictions(entries: readonly PredictionEntry[]): Promise<LabelJoinOutcome>;
  /** Records labels from the label topic. */
  recordLabels(entries: readonly LabelEntry[]): Promise<LabelJoinOutcome>;
  close(): Promise<void>;
}

export interface LabelFields {
  /** @default "id" */
  readonly id?: string;
  /** @default "label" */
  readonly label?: string;
  /** ISO 8601 or epoch ms; the record's timestamp when absent. @default "labelled_at" */
  readonly labelledAt?: string;
}

/**
 * Reads one decoded label event, `{"id": "tx-1", "label": 1, "labelled_at": "2024-03-09T…"}`.
 * `label` may be 0, 1, true or false. Throws an `invalid_event` ConsumerError saying what was
 * expected and what came (the message then goes to the dead-letter topic).
 */
export function decodeLabel(
  value: unknown,
  recordTimestamp: number,
  source: string,
  fields: LabelFields = {},
): LabelEntry {
  const idField = fields.id ?? "id";
  const labelField = fields.label ?? "label";
  const timeField = fields.labelledAt ?? "labelled_at";
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConsumerError(
      "invalid_event",
      `label event: expected a JSON object, got ${typeName(value)}`,
    );
  }
  const event = value as Record<string, unknown>;
  const rawId = event[idField];
  const id =
    typeof rawId === "string" && rawId.length > 0
      ? rawId
      : typeof rawId === "number" && Number.isFinite(rawId)
        ? String(rawId)
        : undefined;
  if (id === undefined) {
    throw new ConsumerError(
      "invalid_event",
      `label event: field "${idField}": expected a non-empty string or a number, got ${typeName(rawId)}`,
    );
  }
  const rawLabel = event[labelField];
  const label = rawLabel === true ? 1 : rawLabel === false ? 0 : rawLabel;
  if (label !== 0 && label !== 1) {
    throw new ConsumerError(
      "invalid_event",
      `label event "${id}": field "${labelField}": expected 0, 1, true or false, got ${JSON.stringify(rawLabel) ?? "nothing"}`,
    );
  }
  const rawTime = event[timeField];
  let labelledAt = recordTimestamp;
  if (typeof rawTime === "number" && Number.isFinite(rawTime)) labelledAt = rawTime;
  else if (typeof rawTime === "string") {
    labelledAt = Date.parse(rawTime);
    if (Number.isNaN(labelledAt)) {
      throw new ConsumerError(
        "invalid_event",
        `label event "${id}": field "${timeField}": expected an ISO 8601 time or epoch milliseconds, got ${JSON.stringify(rawTime)}`,
      );
    }
  }
  return { id, label, labelledAt, source };
}

function typeName(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
