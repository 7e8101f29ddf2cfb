/**
 * How a label event is read (`decodeLabel`); the join itself is the `LabelJoinStore` port
 * (ports/label-join.ts, where its types are exported).
 */
import { ConsumerError } from "../errors.js";
import type { LabelEntry } from "../ports/label-join.js";

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
