/** What every benchmark's command line shares: `--help`, and flags that take comma-separated lists. */

/** The values of a repeatable flag, each split at commas (`--rates 1000,2000 --rates 5000`). */
export function commaList(values: readonly string[] | undefined): string[] | undefined {
  return values?.flatMap((value) => value.split(",")).filter((v) => v !== "");
}

/** With `--help`, prints the usage (its lines joined) and exits. */
export function helpAndExit(help: boolean | undefined, usage: readonly string[]): void {
  if (!help) return;
  process.stdout.write(`${usage.join("\n")}\n`);
  process.exit(0);
}
