/**
 * Turns zod issues into messages a user can act on from the message alone:
 * `pipeline.features.vector[3].window.over: expected a duration like "10m", got "ten"`.
 *
 * zod's own messages ("Invalid input: expected number, received string") say neither where nor
 * what came, so every parse of user config (pipeline files, model configs) passes
 * `schemaErrorMap` and formats with `formatIssues`.
 */
import type { z } from "zod";

const MAX_SHOWN_CHARS = 60;

/** A short, quoted rendering of what the user wrote, for "got …" in messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN_CHARS ? `${value.slice(0, MAX_SHOWN_CHARS)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

/** `["pipeline", "features", "vector", 3, "window"]` → `pipeline.features.vector[3].window`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(root)" : out;
}

const NOUNS: Readonly<Record<string, string>> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
};

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Keys an object schema accepts, read from the issue's schema instance when zod provides it. */
function knownKeys(issue: { inst?: unknown }): string[] {
  const def = (issue.inst as { def?: { shape?: Record<string, unknown> } } | undefined)?.def;
  return def?.shape ? Object.keys(def.shape) : [];
}

/**
 * A zod error map (`schema.safeParse(value, { error: schemaErrorMap })`) whose messages say what
 * was expected and what came. Issues it does not know keep zod's message.
 */
export const schemaErrorMap: z.core.$ZodErrorMap = (issue) => {
  const got = describeValue(issue.input);
  switch (issue.code) {
    case "invalid_type":
      return `expected ${NOUNS[issue.expected] ?? issue.expected}, got ${got}`;
    case "invalid_value":
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}, got ${got}`
        : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${got}`;
    case "unrecognized_keys": {
      const known = knownKeys(issue);
      const keys = issue.keys.map((key) => JSON.stringify(key)).join(", ");
      const hint = known.length > 0 ? ` (expected one of ${known.join(", ")})` : "";
      return `unknown key${issue.keys.length === 1 ? "" : "s"} ${keys}${hint}`;
    }
    case "too_small": {
      const min = Number(issue.minimum);
      if (issue.origin === "array") {
        return `expected at least ${plural(min, "item")}, got ${Array.isArray(issue.input) ? issue.input.length : got}`;
      }
      if (issue.origin === "string")
        return `expected at least ${plural(min, "character")}, got ${got}`;
      return `expected a number ${issue.inclusive ? "≥" : ">"} ${min}, got ${got}`;
    }
    case "too_big": {
      const max = Number(issue.maximum);
      if (issue.origin === "array") {
        return `expected at most ${plural(max, "item")}, got ${Array.isArray(issue.input) ? issue.input.length : got}`;
      }
      return `expected a number ${issue.inclusive ? "≤" : "<"} ${max}, got ${got}`;
    }
    default:
      return undefined;
  }
};

/** One line per issue, each prefixed with its full path under `root`. */
export function formatIssues(error: z.ZodError, root: readonly PropertyKey[] = []): string[] {
  return error.issues.map((issue) => `${formatPath([...root, ...issue.path])}: ${issue.message}`);
}
