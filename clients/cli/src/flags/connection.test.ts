import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../output/exit.js";
import { clientOptions } from "./connection.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-cli-"));
  await writeFile(join(dir, "ca.pem"), "CA PEM");
  await writeFile(join(dir, "cert.pem"), "CERT PEM");
  await writeFile(join(dir, "key.pem"), "KEY PEM");
});
after(() => rm(dir, { recursive: true, force: true }));

describe("clientOptions", () => {
  test("plaintext by default; token and timeout carried over", async () => {
    assert.deepEqual(await clientOptions({ url: "127.0.0.1:8001", token: "t0k", timeout: 500 }), {
      address: "127.0.0.1:8001",
      token: "t0k",
      deadlineMs: 500,
      loadDeadlineMs: 500,
    });
  });

  test("--tls alone uses the system's roots; a CA file implies TLS; mutual TLS reads both files", async () => {
    assert.deepEqual((await clientOptions({ url: "h:1", tls: true })).tls, {});
    const { tls } = await clientOptions({
      url: "h:1",
      tlsCa: join(dir, "ca.pem"),
      tlsCert: join(dir, "cert.pem"),
      tlsKey: join(dir, "key.pem"),
      tlsServerName: "sluice.example.com",
    });
    assert.equal(tls?.ca?.toString(), "CA PEM");
    assert.equal(tls?.cert?.toString(), "CERT PEM");
    assert.equal(tls?.key?.toString(), "KEY PEM");
    assert.equal(tls?.serverName, "sluice.example.com");
  });

  test("an empty token (an unset env variable exported as '') sends none", async () => {
    assert.equal((await clientOptions({ url: "h:1", token: "" })).token, undefined);
  });

  test("usage errors name the flag", async () => {
    await assert.rejects(clientOptions({ url: "h:1", tlsCert: join(dir, "cert.pem") }), {
      name: "UsageError",
      message: "--tls-cert and --tls-key go together: give both or neither",
    });
    await assert.rejects(
      clientOptions({ url: "h:1", tlsCa: join(dir, "missing.pem") }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /^--tls-ca: cannot read ".*missing\.pem": ENOENT/);
        return true;
      },
    );
  });
});
