/**
 * Throwaway PKI for TLS tests, made with the `openssl` CLI in a temp folder: a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate signed by the same CA, and a client
 * certificate signed by another CA (which a mutual-TLS server must refuse). EC P-256 keys keep
 * generation fast; certificates live one day.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestPki {
  readonly dir: string;
  /** PEM of the CA that signed `server` and `client`. */
  readonly ca: Buffer;
  readonly server: KeyPair;
  readonly client: KeyPair;
  /** Signed by a CA the server does not trust. */
  readonly strangerClient: KeyPair;
  remove(): Promise<void>;
}

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.join(" ")} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...NEW_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "1",
    "-subj",
    `/CN=Sluice test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  extensions: string,
): Promise<KeyPair> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(dir, [
    "req",
    "-new",
    ...NEW_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "1",
    "-extfile",
    `${name}.ext`,
  ]);
  return {
    cert: await readFile(join(dir, `${name}.crt`)),
    key: await readFile(join(dir, `${name}.key`)),
  };
}

/** Generates the PKI; needs `openssl` on the PATH. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-pki-"));
  try {
    await makeCa(dir, "ca");
    await makeCa(dir, "other-ca");
    const server = await makeLeaf(
      dir,
      "server",
      "ca",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
    );
    const clientExtensions = "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n";
    const client = await makeLeaf(dir, "client", "ca", clientExtensions);
    const strangerClient = await makeLeaf(dir, "stranger", "other-ca", clientExtensions);
    return {
      dir,
      ca: await readFile(join(dir, "ca.crt")),
      server,
      client,
      strangerClient,
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
