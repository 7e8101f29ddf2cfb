/** commander argument parsers shared by several commands; each refusal says what came. */
import { InvalidArgumentError } from "commander";
import { parseDuration } from "@sluice/consumer";

/** `--timeout <ms>` and the like: a positive number of milliseconds. */
export function parseMilliseconds(value: string): number {
  const ms = Number(value);
  if (value.trim() === "" || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError(`expected a positive number of milliseconds, got "${value}"`);
  }
  return ms;
}

/** An integer flag from `min` to `max`. */
export function integer(name: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === "" || !Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(
        `${name}: expected an integer from ${min} to ${max}, got "${value}"`,
      );
    }
    return parsed;
  };
}

/** A positive integer (a count of steps, rows per write). */
export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return n;
}

/** A share or probability: a number from 0 to 1. */
export function parseProbability(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(`expected a number from 0 to 1, got "${value}"`);
  }
  return n;
}

/**
 * A positive duration as pipeline files write them (`10m`, `24h`), in milliseconds; a refusal
 * shows `examples` (like `"10m" or "30s"`).
 */
export function positiveDuration(examples: string): (value: string) => number {
  return (value: string): number => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      throw new InvalidArgumentError(`expected a duration like ${examples}, got "${value}"`);
    }
    return ms;
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
