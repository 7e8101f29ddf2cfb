/**
 * fast-check's failure as a test report can show it: its message names the counterexample (cut to
 * `maxCounterexample` characters, where fuzzed values can be a megabyte) and the error the property
 * threw, which fast-check keeps only as the `cause` that node:test's reporter does not print.
 */
export function propertyFailure(error: unknown, maxCounterexample = 2_000): Error {
  if (!(error instanceof Error)) return new Error(`property failed: ${String(error)}`);
  const message =
    error.message.length > maxCounterexample
      ? `${error.message.slice(0, maxCounterexample)}… (${error.message.length - maxCounterexample} more characters)`
      : error.message;
  const cause = error.cause;
  const why =
    cause instanceof Error
      ? `${cause.name}: ${cause.message}`
      : cause === undefined
        ? "(no cause given)"
        : JSON.stringify(cause);
  return new Error(`${message}\nthe property threw: ${why}`, { cause });
}
