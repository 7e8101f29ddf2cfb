/** Plain-text tables and target checks for the benchmark's output (also pasted into docs/benchmarks.md). */

/** A right-aligned text table; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: readonly string[]) =>
    row.map((cell, column) => cell.padStart(widths[column]!)).join("  ");
  const [header, ...body] = rows;
  return [
    line(header!),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...body.map(line),
  ].join("\n");
}

/** A number for a table: thousands grouped for large ones, `digits` decimals for small ones. */
export function num(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(Math.min(digits, 1));
  return value.toFixed(digits);
}

export interface Check {
  readonly target: string;
  /** Measured value over the bound; PASS when `ratio >= 1` (the bound is already scaled). */
  readonly ratio: number | undefined;
  /** How the ratio was computed, with the measured figures. */
  readonly detail: string;
}

/** `[PASS] target: ratio 1.23 (detail)`, or n/a when its section did not run. */
export function formatCheck(check: Check): string {
  if (check.ratio === undefined || !Number.isFinite(check.ratio))
    return `[n/a ] ${check.target}: ${check.detail}`;
  const verdict = check.ratio >= 1 ? "PASS" : "MISS";
  return `[${verdict}] ${check.target}: ${check.detail}`;
}
