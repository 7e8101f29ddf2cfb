/**
 * The label join's port: where published predictions and late labels meet, by id, whichever comes
 * first (adapters/redis-label-join.ts keeps both sides in Redis for a TTL longer than the label
 * delay).
 *
 * Replay-idempotent: each id joins once, and the join belongs to the message that completed it
 * (its `source`, e.g. `topic/partition/offset`). Processing that same message again — a replay
 * after a crash, a retried micro-batch — returns the same pair marked `replay`; any other message
 * for an id already joined (a duplicate label, a re-scored prediction) joins nothing. So whoever
 * feeds the evaluator once a micro-batch is committed counts each pair once: a replayed batch is
 * one that never committed, whose pairs were not counted.
 */

/** Chargebacks, the example's labels, arrive within weeks: thirty days covers most of them. */
export const DEFAULT_LABEL_TTL_MS = 30 * 24 * 3_600_000;

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
