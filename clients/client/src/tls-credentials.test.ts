/**
 * TLS to an IP address sends no server name (RFC 6066 allows only host names there; Node warns
 * with DEP0123 otherwise) and still checks the certificate against the address. A real sidecar
 * serves TLS with a throwaway CA whose server certificate names IP 127.0.0.1 and DNS localhost.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  makeRepository,
  makeTestPki,
  startTestSidecar,
  type TestPki,
  type TestRepository,
} from "@sluice/testing";
import { status } from "@grpc/grpc-js";
import { InferenceClient } from "./inference-client.js";
import { ipAddressOf } from "./tls-credentials.js";

let pki: TestPki;
let repository: TestRepository;
const sidecars: Awaited<ReturnType<typeof startTestSidecar>>[] = [];
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

before(async () => {
  process.on("warning", onWarning);
  pki = await makeTestPki();
  repository = await makeRepository({});
});

after(async () => {
  process.off("warning", onWarning);
  for (const sidecar of sidecars) await sidecar.close();
  await repository?.remove();
  await pki?.remove();
});

async function tlsSidecar(host: string): Promise<number> {
  const sidecar = await startTestSidecar({
    modelRepository: repository.dir,
    host,
    tls: { cert: pki.server.cert, key: pki.server.key },
  });
  sidecars.push(sidecar);
  return sidecar.grpcPort;
}

async function live(address: string): Promise<boolean> {
  const client = new InferenceClient({ address, tls: { ca: pki.ca }, deadlineMs: 5_000 });
  try {
    return await client.serverLive();
  } finally {
    client.close();
  }
}

describe("TLS to an IP address", () => {
  test("connects with the certificate's IP name, and Node warns about nothing", async () => {
    const port = await tlsSidecar("127.0.0.1");
    assert.equal(await live(`127.0.0.1:${port}`), true);
    assert.equal(await live(`ipv4:127.0.0.1:${port}`), true);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      warnings.map((warning) => `${warning.name}: ${warning.message}`),
      [],
    );
  });

  test("still refuses a certificate that does not name the address", async () => {
    const port = await tlsSidecar("127.0.0.2");
    await assert.rejects(
      live(`127.0.0.2:${port}`),
      (error: { status: number; message: string }) => {
        assert.equal(error.status, status.UNAVAILABLE);
        assert.match(error.message, /IP: 127\.0\.0\.2 is not in the cert's list/);
        return true;
      },
    );
  });

  test("a host name still goes through grpc-js's TLS, with the name as SNI", async () => {
    const port = await tlsSidecar("127.0.0.1");
    assert.equal(await live(`localhost:${port}`), true);
  });
});

describe("ipAddressOf", () => {
  test("the host of an IPv4 or IPv6 address; nothing for host names and other URIs", () => {
    assert.equal(ipAddressOf("127.0.0.1:8001"), "127.0.0.1");
    assert.equal(ipAddressOf("[::1]:8001"), "::1");
    assert.equal(ipAddressOf("ipv4:10.1.2.3:8001"), "10.1.2.3");
    assert.equal(ipAddressOf("ipv6:[::1]:8001"), "::1");
    assert.equal(ipAddressOf("localhost:8001"), undefined);
    assert.equal(ipAddressOf("sluice.internal:8001"), undefined);
    assert.equal(ipAddressOf("unix:/run/sluice.sock"), undefined);
  });
});
