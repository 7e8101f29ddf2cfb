/**
 * `sluice load-lookups`: a table of lookup records (a profile table: CSV with a header, or JSON
 * lines) into the Redis hashes a pipeline's lookups read, in pipelined batches. For the fraud
 * example, a row `user_id,home_country` becomes `HSET user:<user_id> home_country <value>`.
 */
import { createReadStream } from "node:fs";
import { basename, extname } from "node:path";
import { createInterface } from "node:readline";
import { Option, type Command } from "commander";
import { parsePositiveInteger } from "../flags/parsers.js";
import { parse as parseCsv } from "csv-parse";
import { ConsumerError, LookupTable, RedisLookupWriter, type LookupRecord } from "@sluice/consumer";
import { errorMessage } from "@sluice/kit";
import { UsageError, runAction } from "../output/exit.js";
import { print } from "../output/print.js";
import { loadConfig } from "./consume.js";

export const TABLE_FORMATS = ["csv", "jsonl"] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** Records per round trip: big enough that the round trip is not the cost, small enough to stream. */
export const DEFAULT_LOOKUP_BATCH = 1_000;
/** A progress line on stderr every this many rows. */
const PROGRESS_EVERY = 100_000;
/** Rejected rows named one by one; the rest are counted. */
const REJECTIONS_SHOWN = 10;

interface LoadLookupsFlags {
  config: string;
  input: string;
  format?: TableFormat;
  key?: string;
  keyField?: string;
  batchSize: number;
  redisUrl?: string;
}

/** A row of the table with the line it starts on, or why that line is not a row. */
type TableRow =
  | { readonly line: number; readonly row: Record<string, unknown> }
  | { readonly line: number; readonly error: string };

/** `.csv` → csv; `.jsonl`, `.ndjson`, `.json` → jsonl; anything else needs --format. */
export function formatOf(file: string): TableFormat | undefined {
  const extension = extname(file).toLowerCase();
  if (extension === ".csv") return "csv";
  if ([".jsonl", ".ndjson", ".json"].includes(extension)) return "jsonl";
  return undefined;
}

/** CSV rows as objects keyed by the header, each value a string. */
async function* csvRows(file: string): AsyncGenerator<TableRow> {
  const parser = createReadStream(file).pipe(
    parseCsv({
      columns: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }),
  );
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    yield { line: info.lines, row: record };
  }
}

/** One JSON object per line; blank lines are skipped. */
async function* jsonlRows(file: string): AsyncGenerator<TableRow> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line, error: `expected a JSON object, got invalid JSON (${errorMessage(error)})` };
      continue;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      yield { line, error: `expected a JSON object, got ${JSON.stringify(value).slice(0, 40)}` };
      continue;
    }
    yield { line, row: value as Record<string, unknown> };
  }
}

export interface LoadSummary {
  readonly rows: number;
  readonly loaded: number;
  readonly rejected: number;
}

/**
 * Reads `file` row by row and writes each row's record with `writer`, `batchSize` at a time.
 * `rejected` hears of each row that cannot be loaded, with its line.
 */
export async function loadTable(
  file: string,
  format: TableFormat,
  table: LookupTable,
  writer: Pick<RedisLookupWriter, "write">,
  batchSize: number,
  progress: (summary: LoadSummary) => void,
  rejected: (line: number, reason: string) => void,
): Promise<LoadSummary> {
  let rows = 0;
  let loaded = 0;
  let failed = 0;
  let batch: LookupRecord[] = [];
  const flush = async () => {
    await writer.write(batch);
    loaded += batch.length;
    batch = [];
  };
  for await (const item of format === "csv" ? csvRows(file) : jsonlRows(file)) {
    rows++;
    const outcome =
      "error" in item ? { ok: false as const, reason: item.error } : table.record(item.row);
    if (outcome.ok) batch.push(outcome.record);
    else {
      failed++;
      rejected(item.line, outcome.reason);
    }
    if (batch.length >= batchSize) await flush();
    if (rows % PROGRESS_EVERY === 0) progress({ rows, loaded, rejected: failed });
  }
  await flush();
  return { rows, loaded, rejected: failed };
}

function printErr(command: Command, text: string): void {
  const output = command.configureOutput();
  const line = text.endsWith("\n") ? text : `${text}\n`;
  if (output.writeErr === undefined) process.stderr.write(line);
  else output.writeErr(line);
}

export function registerLoadLookups(program: Command): void {
  const command = program
    .command("load-lookups")
    .description(
      "load a table of lookup records (e.g. user profiles) into the Redis hashes a pipeline's lookups read",
    )
    .requiredOption("--config <file>", "pipeline YAML file whose lookups the table is for")
    .requiredOption("--input <file>", "the table: CSV with a header row, or JSON lines")
    .addOption(
      new Option(
        "--format <format>",
        "the table's format (default: from the file's extension)",
      ).choices(TABLE_FORMATS),
    )
    .option(
      "--key <template>",
      'the lookup key template to load, as the pipeline writes it (e.g. "user:{user_id}"); needed when it has several',
    )
    .option(
      "--key-field <column>",
      "the column holding the key's value, when it is not named like the template's placeholder",
    )
    .option(
      "--batch-size <n>",
      "records per Redis round trip",
      parsePositiveInteger,
      DEFAULT_LOOKUP_BATCH,
    )
    .addOption(new Option("--redis-url <url>", "Redis, instead of the file's").env("REDIS_URL"))
    .addHelpText(
      "after",
      `
Each row becomes one hash: its key from the template (user:{user_id} with the row's user_id), its
fields the ones the pipeline's lookups with that template read (home_country), each from the
column of the same name. Other columns are ignored; an empty value leaves its field unset; fields
already in Redis and not in the table are kept. Rows without the key, or without any of the
fields, are not loaded: the first ${REJECTIONS_SHOWN} are named on stderr with their line, and the
command exits 1 after loading the others. Running consumers see a loaded record once their lookup
cache's entry expires (the lookup's cache_ttl, 1 minute by default).
Examples:
  $ sluice load-lookups --config examples/pipelines/fraud.yaml --input examples/lookups/profiles.csv
  $ sluice load-lookups --config examples/pipelines/fraud.yaml --input examples/lookups/users.jsonl --key-field id`,
    );
  command.action((flags: LoadLookupsFlags, self: Command) =>
    runAction(self, async () => {
      const format = flags.format ?? formatOf(flags.input);
      if (format === undefined) {
        throw new UsageError(
          `--input "${flags.input}": expected a .csv, .jsonl or .ndjson file, or --format csv|jsonl`,
        );
      }
      const config = await loadConfig({ config: flags.config, redisUrl: flags.redisUrl });
      let table: LookupTable;
      try {
        table = new LookupTable(config.features, { key: flags.key, keyField: flags.keyField });
      } catch (error) {
        if (ConsumerError.is(error, "config_invalid")) {
          throw new UsageError(`${flags.config}: ${error.message}`);
        }
        throw error;
      }
      const writer = await RedisLookupWriter.connect(config.redis.url);
      const name = basename(flags.input);
      let shown = 0;
      let summary: LoadSummary;
      try {
        summary = await loadTable(
          flags.input,
          format,
          table,
          writer,
          flags.batchSize,
          ({ rows, loaded }) => printErr(self, `${name}: ${rows} rows read, ${loaded} loaded`),
          (line, reason) => {
            if (shown++ < REJECTIONS_SHOWN) printErr(self, `${name}:${line}: ${reason}`);
          },
        ).catch((error: unknown) => {
          // A file that cannot be read or parsed stops the load; what was written stays.
          if (error instanceof ConsumerError) throw error;
          throw new Error(`${flags.input}: ${errorMessage(error)}`, { cause: error });
        });
      } finally {
        await writer.close();
      }
      print(
        self,
        `loaded ${summary.loaded} records into ${table.template} (${table.fields.join(", ")}) from ${name}: ${summary.rows} rows, ${summary.rejected} rejected`,
      );
      if (summary.rejected > 0) {
        throw new Error(
          `${summary.rejected} rows of ${name} were not loaded${summary.rejected > REJECTIONS_SHOWN ? ` (the first ${REJECTIONS_SHOWN} are named above)` : " (named above)"}`,
        );
      }
    }),
  );
}
