/**
 * What every client command shares: the connection options, building an InferenceClient from them,
 * usage errors (exit 2) as distinct from failures of the call (exit 1, reported by main.ts), and
 * plain-text tables.
 */
import { readFile } from "node:fs/promises";
import { type Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  InferenceClient,
  InferenceError,
  type InferenceClientOptions,
  type TlsOptions,
  status,
} from "@sluice/client";

/** Where `sluice serve` listens by default: the gRPC port KServe and Triton use. */
export const DEFAULT_URL = "127.0.0.1:8001";

/** Exit code for a command line that cannot be run as written (commander uses it too, via main.ts). */
export const EXIT_USAGE = 2;

/** The connection flags, as commander parses them. */
export interface ConnectionFlags {
  url: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  token?: string;
  timeout?: number;
}

/** A command line that cannot run as written: reported with exit code 2, like commander's own. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Adds `--url`, the TLS flags, `--token` and `--timeout` to `command`. */
export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--url <host:port>", "server address").env("SLUICE_URL").default(DEFAULT_URL),
    )
    .option("--tls", "connect over TLS, trusting the system's CA certificates")
    .option("--tls-ca <file>", "PEM CA certificate(s) to trust instead (implies --tls)")
    .option(
      "--tls-cert <file>",
      "PEM client certificate for mutual TLS (implies --tls, needs --tls-key)",
    )
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--tls-server-name <name>", "name to verify the server certificate against")
    .addOption(
      new Option(
        "--token <token>",
        "bearer token for repository calls (models, load, unload); prefer the env variable, which ps cannot show",
      ).env("SLUICE_ADMIN_TOKEN"),
    )
    .option(
      "--timeout <ms>",
      "deadline of each call in milliseconds, retries included (default: 10000; load: 120000)",
      parseMilliseconds,
    );
}

/** commander argument parser for `--timeout`. */
export function parseMilliseconds(value: string): number {
  const ms = Number(value);
  if (value.trim() === "" || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError(`expected a positive number of milliseconds, got "${value}"`);
  }
  return ms;
}

/** commander argument parser for an integer flag from `min` to `max`. */
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

/** commander argument parser that collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Client options from the connection flags; reads the PEM files. Throws UsageError naming the flag. */
export async function clientOptions(flags: ConnectionFlags): Promise<InferenceClientOptions> {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  }
  const useTls =
    flags.tls === true ||
    flags.tlsCa !== undefined ||
    flags.tlsCert !== undefined ||
    flags.tlsServerName !== undefined;
  let tls: TlsOptions | undefined;
  if (useTls) {
    tls = {};
    if (flags.tlsCa !== undefined) tls.ca = await readPem("--tls-ca", flags.tlsCa);
    if (flags.tlsCert !== undefined) tls.cert = await readPem("--tls-cert", flags.tlsCert);
    if (flags.tlsKey !== undefined) tls.key = await readPem("--tls-key", flags.tlsKey);
    if (flags.tlsServerName !== undefined) tls.serverName = flags.tlsServerName;
  }
  const options: InferenceClientOptions = { address: flags.url };
  if (tls !== undefined) options.tls = tls;
  if (flags.token !== undefined && flags.token !== "") options.token = flags.token;
  if (flags.timeout !== undefined) {
    options.deadlineMs = flags.timeout;
    options.loadDeadlineMs = flags.timeout;
  }
  return options;
}

/**
 * Runs `use` with a client built from `flags`, closing it afterwards. Usage errors, including the
 * client refusing its options (a bad --url), are reported through commander with exit code 2.
 */
export async function withClient<T>(
  command: Command,
  flags: ConnectionFlags,
  use: (client: InferenceClient) => Promise<T>,
): Promise<T> {
  let client: InferenceClient;
  try {
    client = new InferenceClient(await clientOptions(flags));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return usage(command, asFlagMessage(message));
  }
  try {
    return await use(client);
  } catch (error) {
    throw withHint(error, flags);
  } finally {
    client.close();
  }
}

/** Adds what to check to the failures a CLI user most often meets: no server, no or wrong token. */
function withHint(error: unknown, flags: ConnectionFlags): unknown {
  if (!(error instanceof InferenceError)) return error;
  let hint: string | undefined;
  if (error.status === status.UNAVAILABLE) hint = `is a server listening at ${flags.url}?`;
  if (error.status === status.UNAUTHENTICATED || error.status === status.PERMISSION_DENIED) {
    hint = "set SLUICE_ADMIN_TOKEN or --token to the server's admin token";
  }
  if (hint === undefined) return error;
  // grpc-js ends connection errors with an empty "Resolution note:"; it only adds noise here.
  const details = error.details.replace(/\s*Resolution note:\s*$/, "").trim();
  return new InferenceError(error.status, `${details} (hint: ${hint})`, {
    cause: error,
    metadata: error.metadata,
  });
}

/** Reports a usage error the way commander reports its own (`error: ...`, exit 2) and stops. */
export function usage(command: Command, message: string): never {
  return command.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: "sluice.usage" });
}

/** The commander error code of `exitWith`: main.ts exits with its exit code and prints nothing. */
export const EXIT_STATUS_CODE = "sluice.exit";

/**
 * Ends the command with `exitCode` and nothing more printed: for commands whose exit code is the
 * answer (`sluice stack status` exits 3 when nothing runs), not a failure to report.
 */
export function exitWith(exitCode: number): never {
  throw new CommanderError(exitCode, EXIT_STATUS_CODE, "");
}

/** Runs an action body, turning a UsageError into a commander usage error (exit 2). */
export async function runAction(command: Command, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof UsageError) usage(command, error.message);
    throw error;
  }
}

/** Writes command output through commander's output configuration, so tests can capture it. */
export function print(command: Command, text: string): void {
  const line = text.endsWith("\n") ? text : `${text}\n`;
  const output = command.configureOutput();
  if (output.writeOut === undefined) process.stdout.write(line);
  else output.writeOut(line);
}

/** A plain-text table: columns padded to their widest cell, two spaces apart. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

// The client names its options (`address: expected ...`); a CLI user knows the flags.
const FLAG_OF_OPTION: Record<string, string> = {
  address: "--url",
  token: "--token",
  deadlineMs: "--timeout",
  loadDeadlineMs: "--timeout",
  "tls.serverName": "--tls-server-name",
};

function asFlagMessage(message: string): string {
  const text = message.replace(/^\[INVALID_ARGUMENT\] /, "");
  const option = /^([\w.]+):/.exec(text)?.[1] ?? "";
  const flag = FLAG_OF_OPTION[option];
  return flag === undefined ? text : `${flag}${text.slice(option.length)}`;
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read "${path}": ${(error as Error).message}`);
  }
}
