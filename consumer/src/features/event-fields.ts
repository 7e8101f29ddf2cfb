/**
 * Reading typed values out of a decoded JSON event by field path, with messages that name the
 * field and say what came: `event.amount: expected a number, got "12,50"`.
 *
 * Readers push a message and return undefined instead of throwing, so one pass over an event
 * reports every problem it has, not just the first.
 */
import { describeValue } from "@sluice/kit";

export type EventObject = Readonly<Record<string, unknown>>;

/** Decimal text as some producers send amounts ("12.50"); "12,50" or "12 EUR" stay invalid. */
const DECIMAL_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** ISO-8601 date-time with an explicit zone: without one, Date.parse would guess local time. */
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;
/**
 * Epoch milliseconds below this (1973-03-03) are almost surely epoch *seconds*; accepting them
 * would put every event in January 1970 and silently break every window.
 */
const MIN_EPOCH_MS = 1e11;

/** A compiled dotted field path (`payload.amount`). */
export class FieldPath {
  readonly #parts: readonly string[];

  constructor(readonly path: string) {
    this.#parts = path.split(".");
  }

  /** The value at the path, or undefined when any step is missing or not an object. */
  read(event: EventObject): unknown {
    let value: unknown = event;
    for (const part of this.#parts) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
    return value;
  }

  /** How messages name the field: `event.payload.amount`. */
  get label(): string {
    return `event.${this.path}`;
  }
}

/** Missing and null are the same to a feature: the producer did not send a value. */
function missing(value: unknown): boolean {
  return value === undefined || value === null;
}

export function readNumber(
  event: EventObject,
  path: FieldPath,
  fallback: number | undefined,
  errors: string[],
): number | undefined {
  const value = path.read(event);
  if (missing(value) && fallback !== undefined) return fallback;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && DECIMAL_RE.test(value)) return Number(value);
  errors.push(`${path.label}: expected a number, got ${describeValue(value)}`);
  return undefined;
}

/** Strings, and numbers as their shortest decimal text (ids are often numeric). */
export function readString(
  event: EventObject,
  path: FieldPath,
  fallback: string | undefined,
  errors: string[],
): string | undefined {
  const value = path.read(event);
  if (missing(value) && fallback !== undefined) return fallback;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  errors.push(`${path.label}: expected a string, got ${describeValue(value)}`);
  return undefined;
}

/** Booleans as 1 / 0, ready for the row. */
export function readBoolean(
  event: EventObject,
  path: FieldPath,
  fallback: boolean | undefined,
  errors: string[],
): number | undefined {
  const value = path.read(event);
  if (missing(value) && fallback !== undefined) return fallback ? 1 : 0;
  if (typeof value === "boolean") return value ? 1 : 0;
  errors.push(`${path.label}: expected true or false, got ${describeValue(value)}`);
  return undefined;
}

/** The entity id: a non-empty string or an integer, as a string. */
export function readEntity(
  event: EventObject,
  path: FieldPath,
  errors: string[],
): string | undefined {
  const value = path.read(event);
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  errors.push(
    `${path.label}: expected a non-empty string or an integer id, got ${describeValue(value)}`,
  );
  return undefined;
}

/** Event time in epoch milliseconds from ISO-8601 with a zone, or from epoch milliseconds. */
export function readEventTime(
  event: EventObject,
  path: FieldPath,
  errors: string[],
): number | undefined {
  const value = path.read(event);
  if (typeof value === "number" && Number.isSafeInteger(value)) {
    if (value >= MIN_EPOCH_MS) return value;
    errors.push(
      `${path.label}: expected epoch milliseconds, got ${value} (that looks like seconds; multiply by 1000)`,
    );
    return undefined;
  }
  if (typeof value === "string" && ISO_TIME_RE.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  errors.push(
    `${path.label}: expected an ISO-8601 time with a zone like "2024-03-07T12:31:29.609Z" or epoch milliseconds, got ${describeValue(value)}`,
  );
  return undefined;
}

/** A key template like `user:{user_id}`, rendered from an event's fields. */
export class KeyTemplate {
  readonly #literals: readonly string[];
  readonly #fields: readonly FieldPath[];

  constructor(readonly template: string) {
    const literals: string[] = [];
    const fields: FieldPath[] = [];
    let rest = template;
    for (let open = rest.indexOf("{"); open >= 0; open = rest.indexOf("{")) {
      const close = rest.indexOf("}", open);
      literals.push(rest.slice(0, open));
      fields.push(new FieldPath(rest.slice(open + 1, close)));
      rest = rest.slice(close + 1);
    }
    literals.push(rest);
    this.#literals = literals;
    this.#fields = fields;
  }

  /** The placeholders' field paths, in template order. */
  get fields(): readonly string[] {
    return this.#fields.map((field) => field.path);
  }

  render(event: EventObject, errors: string[]): string | undefined {
    let out = this.#literals[0] ?? "";
    for (const [i, field] of this.#fields.entries()) {
      const value = readString(event, field, undefined, errors);
      if (value === undefined) return undefined;
      out += value + (this.#literals[i + 1] ?? "");
    }
    return out;
  }
}
