/**
 * The connection flags of every command that talks to a sidecar, and the client built from them:
 * a flag the client refuses is a usage error naming the flag, and the failures a CLI user most
 * often meets (no server, no or wrong token) come with what to check.
 */
import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import {
  InferenceClient,
  InferenceError,
  type InferenceClientOptions,
  type TlsOptions,
  status,
} from "@sluice/client";
import { UsageError, usage } from "../output/exit.js";
import { parseMilliseconds } from "./parsers.js";

/** Where `sluice serve` listens by default: the gRPC port KServe and Triton use. */
export const DEFAULT_URL = "127.0.0.1:8001";

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
