/**
 * Hooks: a TypeScript (or JavaScript) module of the user's that computes extra named values per
 * event, for what the YAML cannot say (a distance from home, a model-specific score). The hook
 * gets the decoded event and its position; it returns `{ name: number }` for every name the spec
 * lists under `outputs`, synchronously or as a promise.
 *
 * ```ts
 * // hooks/geo.ts, listed as `hook: { module: ./hooks/geo.ts, outputs: [km_from_home] }`
 * import type { FeatureHook } from "@sluice/consumer";
 * const hook: FeatureHook = (event) => ({ km_from_home: distance(event.value) });
 * export default hook;
 * ```
 *
 * A hook that throws fails only its event (`feature_error`, sent to the dead-letter topic), unless
 * the error has `retryable: true` (a ConsumerError, or any error with that property, e.g. from a
 * service the hook calls being down): then the whole batch is retried, as for a lost store.
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConsumerError } from "../errors.js";
import type { EventObject } from "./event-fields.js";
import type { HookSource } from "./feature-definition.js";
import { describeValue, errorMessage } from "@sluice/kit";

export interface HookEvent {
  /** The decoded JSON event. */
  readonly value: EventObject;
  readonly key: string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly entity: string;
  /** Epoch milliseconds. */
  readonly eventTime: number;
}

export type FeatureHook = (
  event: HookEvent,
) => Readonly<Record<string, number>> | Promise<Readonly<Record<string, number>>>;

export function hookLabel(source: HookSource): string {
  return `hook "${source.module}#${source.exportName}"`;
}

/** Imports the hook module (relative paths from `baseDir`); a bad module is a config error. */
export async function loadHook(source: HookSource, baseDir: string): Promise<FeatureHook> {
  const path = isAbsolute(source.module) ? source.module : resolve(baseDir, source.module);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConsumerError(
      "config_invalid",
      `${hookLabel(source)}: cannot import ${path}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const hook = module[source.exportName];
  if (typeof hook !== "function") {
    throw new ConsumerError(
      "config_invalid",
      `${hookLabel(source)}: expected ${path} to export a function as "${source.exportName}", got ${describeValue(hook)}`,
    );
  }
  return hook as FeatureHook;
}

/**
 * Runs a hook for one event and returns its outputs in spec order. Throws a ConsumerError:
 * `feature_error` for a failing or malformed hook, or the hook's own (possibly retryable) error.
 */
export async function runHook(
  hook: FeatureHook,
  source: HookSource,
  event: HookEvent,
): Promise<Float64Array> {
  let result: unknown;
  try {
    result = await hook(event);
  } catch (error) {
    if (error instanceof ConsumerError) throw error;
    // Duck-typed: a hook compiled on its own may not share our ConsumerError class.
    const retryable = (error as { retryable?: unknown } | null)?.retryable === true;
    throw new ConsumerError(
      "feature_error",
      `${hookLabel(source)} failed: ${errorMessage(error)}`,
      { cause: error, retryable },
    );
  }
  if (result === null || typeof result !== "object") {
    throw new ConsumerError(
      "feature_error",
      `${hookLabel(source)}: expected an object of ${source.outputs.join(", ")}, got ${describeValue(result)}`,
    );
  }
  const values = new Float64Array(source.outputs.length);
  source.outputs.forEach((name, i) => {
    const value = (result as Record<string, unknown>)[name];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new ConsumerError(
        "feature_error",
        `${hookLabel(source)}: output "${name}": expected a finite number, got ${describeValue(value)}`,
      );
    }
    values[i] = value;
  });
  return values;
}
