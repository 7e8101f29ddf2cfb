/** commander argument parsers shared by several commands; each refusal says what came. */
import { InvalidArgumentError } from "commander";

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

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
