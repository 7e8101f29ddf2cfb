/**
 * How a pipeline's Kafka clients prove who they are and check whom they talk to: TLS (the
 * broker's CA, a client certificate for mutual TLS) and SASL (PLAIN or SCRAM). The pipeline file
 * names where the secrets are (a file, an environment variable), never needs them inline:
 *
 * ```yaml
 * kafka:
 *   tls: { ca: ./kafka-ca.pem }          # or `tls: true`: the system's CAs
 *   sasl: { mechanism: scram-sha-512, username: sluice, password_env: SLUICE_KAFKA_PASSWORD }
 * ```
 *
 * Two steps, so a file is validated without touching the disk or the environment:
 * `kafkaTlsSchema`/`kafkaSaslSchema` check the shape (paths resolved against the pipeline file's
 * folder), and `loadKafkaSecurity` reads the files and variables when the clients start, each
 * failure naming its key.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { describeValue, errorMessage } from "@sluice/kit";
import { ConsumerError } from "../errors.js";

/** The SASL mechanisms both Kafka clients speak (Kafka's names, lowercase as kafkajs spells them). */
export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** TLS as the file says it, paths absolute. */
export interface KafkaTlsSettings {
  /** PEM file of the CA(s) that signed the brokers' certificates; none: Node's bundled CAs. */
  readonly caFile: string | undefined;
  /** PEM client certificate and key, for brokers that ask for mutual TLS. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** The name sent in SNI and checked against the certificate; none: the broker's host. */
  readonly servername: string | undefined;
  /** False accepts any certificate: for a test cluster only. @default true */
  readonly rejectUnauthorized: boolean;
}

/** Where a SASL password comes from; exactly one of the three. */
export type PasswordSource =
  { readonly env: string } | { readonly file: string } | { readonly value: string };

/** SASL as the file says it, the password not read yet. */
export interface KafkaSaslSettings {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  readonly password: PasswordSource;
}

/** What the clients are given: the material itself, read from the files and the environment. */
export interface KafkaSecurity {
  readonly tls?: {
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly servername?: string;
    readonly rejectUnauthorized: boolean;
  };
  readonly sasl?: {
    readonly mechanism: SaslMechanism;
    readonly username: string;
    readonly password: string;
  };
}

/** What a pipeline's `kafka:` says about security, as `PipelineConfig.kafka` carries it. */
export interface KafkaSecuritySettings {
  readonly tls: KafkaTlsSettings | undefined;
  readonly sasl: KafkaSaslSettings | undefined;
}

function expected(what: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => `expected ${what}, got ${describeValue(issue.input)}` };
}

const path = z.string(expected("a file path")).min(1, expected("a file path"));

/** An environment variable's name, as POSIX shells accept them. */
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `tls: true`, or the files and checks in a mapping. */
export const kafkaTlsSchema = z.union(
  [
    z.literal(true),
    z
      .strictObject({
        ca: path.optional(),
        cert: path.optional(),
        key: path.optional(),
        servername: z.string().min(1).optional(),
        reject_unauthorized: z.boolean().default(true),
      })
      .superRefine((tls, ctx) => {
        // One without the other is a typo, not a choice: the handshake would fail later, less clearly.
        if ((tls.cert === undefined) !== (tls.key === undefined)) {
          const missing = tls.cert === undefined ? "cert" : "key";
          ctx.addIssue({
            code: "custom",
            path: [missing],
            message: `expected a file path (cert and key go together, for mutual TLS), got nothing`,
          });
        }
      }),
  ],
  expected("true or a mapping of ca, cert, key, servername, reject_unauthorized"),
);

export const kafkaSaslSchema = z
  .strictObject({
    mechanism: z.enum(
      SASL_MECHANISMS,
      expected(
        SASL_MECHANISMS.map((m) => `"${m}"`)
          .join(", ")
          .replace(/, ([^,]*)$/, " or $1"),
      ),
    ),
    username: z.string(expected("a user name")).min(1, expected("a user name")),
    password_env: z
      .string()
      .regex(ENV_NAME_RE, expected(`an environment variable's name like "SLUICE_KAFKA_PASSWORD"`))
      .optional(),
    password_file: path.optional(),
    /** Discouraged: the secret would sit in the file, and in whatever stores or shows it. */
    password: z.string().min(1).optional(),
  })
  .superRefine((sasl, ctx) => {
    const given = (["password_env", "password_file", "password"] as const).filter(
      (key) => sasl[key] !== undefined,
    );
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: given.length === 0 ? [] : [given[1]!],
        message: `expected one of password_env, password_file or password, got ${given.length === 0 ? "none" : given.join(" and ")}`,
      });
    }
  });

/** The file's `tls` and `sasl`, relative paths resolved against `baseDir`. */
export function kafkaSecuritySettings(
  tls: z.output<typeof kafkaTlsSchema> | undefined,
  sasl: z.output<typeof kafkaSaslSchema> | undefined,
  baseDir: string,
): KafkaSecuritySettings {
  const file = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  return {
    tls:
      tls === undefined
        ? undefined
        : tls === true
          ? {
              caFile: undefined,
              certFile: undefined,
              keyFile: undefined,
              servername: undefined,
              rejectUnauthorized: true,
            }
          : {
              caFile: file(tls.ca),
              certFile: file(tls.cert),
              keyFile: file(tls.key),
              servername: tls.servername,
              rejectUnauthorized: tls.reject_unauthorized,
            },
    sasl:
      sasl === undefined
        ? undefined
        : {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password:
              sasl.password_env !== undefined
                ? { env: sasl.password_env }
                : sasl.password_file !== undefined
                  ? { file: file(sasl.password_file)! }
                  : { value: sasl.password ?? "" },
          },
  };
}

/**
 * Reads the CA, certificate, key and password the settings name. Throws a `config_invalid`
 * ConsumerError naming the key (`pipeline.kafka.tls.ca: cannot read "…": ENOENT …`), so a
 * missing secret stops the process at start with the reason. The password is read once: a
 * rotated one takes a restart.
 */
export async function loadKafkaSecurity(
  settings: KafkaSecuritySettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KafkaSecurity> {
  const { tls, sasl } = settings;
  const problems: string[] = [];
  const read = async (key: string, file: string | undefined): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      problems.push(`pipeline.kafka.${key}: cannot read "${file}": ${errorMessage(error)}`);
      return undefined;
    }
  };
  const [ca, cert, key] = await Promise.all([
    read("tls.ca", tls?.caFile),
    read("tls.cert", tls?.certFile),
    read("tls.key", tls?.keyFile),
  ]);
  let password: string | undefined;
  if (sasl !== undefined) {
    const source = sasl.password;
    if ("env" in source) {
      password = env[source.env];
      if (password === undefined || password === "") {
        problems.push(
          `pipeline.kafka.sasl.password_env: expected the environment variable ${source.env} to hold the password, got ${password === undefined ? "it unset" : "it empty"}`,
        );
      }
    } else if ("file" in source) {
      // A trailing newline is how editors and `echo` end a file, never part of the password.
      password = (await read("sasl.password_file", source.file))
        ?.toString("utf8")
        .replace(/\r?\n$/, "");
      if (password === "") {
        problems.push(`pipeline.kafka.sasl.password_file: "${source.file}" is empty`);
      }
    } else {
      password = source.value;
    }
  }
  if (problems.length > 0) throw new ConsumerError("config_invalid", problems.join("\n"));
  return {
    ...(tls === undefined
      ? {}
      : {
          tls: {
            ...(ca === undefined ? {} : { ca }),
            ...(cert === undefined ? {} : { cert }),
            ...(key === undefined ? {} : { key }),
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            rejectUnauthorized: tls.rejectUnauthorized,
          },
        }),
    ...(sasl === undefined || password === undefined
      ? {}
      : { sasl: { mechanism: sasl.mechanism, username: sasl.username, password } }),
  };
}
