/**
 * A table of lookup records, such as a profile table with one row per user, turned into what a
 * pipeline's lookups read: for one key template of the spec (`user:{user_id}`), each row gives
 * the hash key (`user:42`) and the fields the lookups of that template read (`home_country`),
 * each from the row's column of the same name. `sluice load-lookups` writes them to Redis.
 *
 * A row without the key column, or without any of the fields, cannot be loaded and says why; a
 * field that is empty in one row is left out of its record, so the lookup's `missing` policy
 * applies to it as to a user with no row at all.
 */
import { describeValue } from "@sluice/kit";
import { ConsumerError } from "../errors.js";
import { FieldPath, KeyTemplate, type EventObject } from "./event-fields.js";
import type { FeatureSpec, LookupSource, Source } from "./feature-definition.js";

/** One Redis hash: its key and the fields to set. */
export interface LookupRecord {
  readonly key: string;
  readonly fields: Readonly<Record<string, string>>;
}

export type LookupRow =
  | { readonly ok: true; readonly record: LookupRecord }
  | { readonly ok: false; readonly reason: string };

export interface LookupTableOptions {
  /** The key template to load, as the spec writes it; needed when the spec has several. */
  readonly key?: string | undefined;
  /** The column holding the key's value, when it is not named like the template's placeholder. */
  readonly keyField?: string | undefined;
}

/** The lookups of a spec, wherever they sit (ratio operands too). */
function lookupsOf(spec: FeatureSpec): LookupSource[] {
  const found: LookupSource[] = [];
  const visit = (source: Source): void => {
    if (source.kind === "lookup") found.push(source);
    if (source.kind === "ratio") {
      visit(source.numerator.source);
      visit(source.denominator.source);
    }
  };
  for (const feature of spec.features) visit(feature.source);
  return found;
}

/** A value as a hash field holds it: strings as they are, numbers and booleans as text. */
function text(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  return undefined;
}

/** A column by its name (CSV), or else by its path into nested objects (JSON lines). */
function column(row: EventObject, name: string): unknown {
  return name in row ? row[name] : new FieldPath(name).read(row);
}

export class LookupTable {
  /** The key template the rows are loaded under. */
  readonly template: string;
  /** The hash fields the pipeline reads, in spec order. */
  readonly fields: readonly string[];
  /** The columns the key is rendered from, one per placeholder. */
  readonly keyColumns: readonly string[];
  readonly #template: KeyTemplate;

  /**
   * The table of `spec`'s lookups under `options.key` (or its only key template). Throws
   * `config_invalid` naming the templates when there is no lookup, or no single one to pick.
   */
  constructor(spec: FeatureSpec, options: LookupTableOptions = {}) {
    const lookups = lookupsOf(spec);
    const templates = [...new Set(lookups.map((lookup) => lookup.key))];
    if (templates.length === 0) {
      throw new ConsumerError("config_invalid", "the pipeline's features have no lookup to load");
    }
    const template = options.key ?? (templates.length === 1 ? templates[0] : undefined);
    if (template === undefined || !templates.includes(template)) {
      throw new ConsumerError(
        "config_invalid",
        `key template: expected one of the pipeline's lookups, ${templates.map((t) => `"${t}"`).join(", ")}, got ${options.key === undefined ? "none (the pipeline has several)" : describeValue(options.key)}`,
      );
    }
    this.template = template;
    this.#template = new KeyTemplate(template);
    this.fields = [
      ...new Set(lookups.filter((lookup) => lookup.key === template).map((l) => l.field)),
    ];
    const placeholders = this.#template.fields;
    if (options.keyField !== undefined && placeholders.length !== 1) {
      throw new ConsumerError(
        "config_invalid",
        `key field: "${template}" has ${placeholders.length} placeholders; name each as a column instead`,
      );
    }
    this.keyColumns = options.keyField === undefined ? placeholders : [options.keyField];
  }

  /** The record of one row, or why it cannot be loaded. */
  record(row: EventObject): LookupRow {
    const keyValues: Record<string, string> = {};
    for (const [i, name] of this.keyColumns.entries()) {
      const value = text(column(row, name));
      if (value === undefined || value === "") {
        return {
          ok: false,
          reason: `${name}: expected the key's value (a string or number), got ${describeValue(column(row, name))}`,
        };
      }
      keyValues[this.#template.fields[i]!] = value;
    }
    const key = this.template.replace(/\{([^{}]*)\}/g, (_, path: string) => keyValues[path]!);
    const fields: Record<string, string> = {};
    let present = 0;
    for (const field of this.fields) {
      const raw = column(row, field);
      if (raw === undefined || raw === null || raw === "") continue;
      const value = text(raw);
      if (value === undefined) {
        return {
          ok: false,
          reason: `${field}: expected a string or number, got ${describeValue(raw)}`,
        };
      }
      fields[field] = value;
      present++;
    }
    if (present === 0) {
      return {
        ok: false,
        reason: `expected a value for ${this.fields.join(" or ")}, got none`,
      };
    }
    return { ok: true, record: { key, fields } };
  }
}
