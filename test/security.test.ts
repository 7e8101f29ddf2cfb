/**
 * Transport security and the admin token, over real gRPC on loopback: TLS with a throwaway CA,
 * mutual TLS that refuses clients without a certificate or with one from another CA, and the bearer
 * token that guards RepositoryModelLoad/Unload (and only them) in explicit model-control mode.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  ModelMetadataRequestSchema,
  ModelReadyRequestSchema,
  RepositoryIndexRequestSchema,
  RepositoryModelLoadRequestSchema,
  RepositoryModelUnloadRequestSchema,
  ServerLiveRequestSchema,
  ServerMetadataRequestSchema,
  type ModelMetadataResponse,
  type RepositoryIndexResponse,
  type ServerMetadataResponse,
} from "@sluice/proto";
import type { Sidecar } from "@sluice/server";
import {
  f32,
  FIXTURE_MODELS,
  fp32Request,
  makeRepository,
  makeTestPki,
  modelStatistics,
  ProtocolClient,
  startTestSidecar,
  statusOf,
  type TestPki,
  type TestRepository,
} from "@sluice/testing";

const ADMIN_TOKEN = "s3cret-admin-token";

let pki: TestPki;
let repository: TestRepository;
const clients: ProtocolClient[] = [];
const sidecars: Sidecar[] = [];

before(async () => {
  pki = await makeTestPki();
  repository = await makeRepository({ "identity-fp32": join(FIXTURE_MODELS, "identity-fp32") });
});

after(async () => {
  for (const client of clients) client.close();
  for (const sidecar of sidecars) await sidecar.close();
  await repository?.remove();
  await pki?.remove();
});

async function start(options: Parameters<typeof startTestSidecar>[0]): Promise<Sidecar> {
  const sidecar = await startTestSidecar(options);
  sidecars.push(sidecar);
  return sidecar;
}

/**
 * A plain grpc-js client, as any gRPC user writes one. Over TLS it names the server "localhost"
 * (in the certificate): grpc-js would otherwise send the IP address as the TLS server name, which
 * RFC 6066 forbids and Node warns about (DEP0123). Our own client avoids that itself.
 */
function connect(sidecar: Sidecar, credentials?: grpc.ChannelCredentials): ProtocolClient {
  const options = credentials?._isSecure() ? { "grpc.ssl_target_name_override": "localhost" } : {};
  const client = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`, credentials, options);
  clients.push(client);
  return client;
}

/** The deadline only keeps a test whose connection hangs from hanging the suite. */
const live = (client: ProtocolClient) =>
  client.call<{ live: boolean }>("serverLive", create(ServerLiveRequestSchema), {
    deadlineMs: 10_000,
  });

async function assertServes(client: ProtocolClient): Promise<void> {
  assert.equal((await live(client)).live, true);
  const response = await client.infer(fp32Request("identity-fp32", 1));
  assert.deepEqual([...f32(response.rawOutputContents[0])], [0, 0.01, 0.02, 0.03].map(Math.fround));
}

async function assertRefusedConnection(client: ProtocolClient): Promise<void> {
  const error = await statusOf(live(client));
  assert.equal(error.code, grpc.status.UNAVAILABLE, `${error.code}: ${error.details}`);
}

describe("TLS", () => {
  let sidecar: Sidecar;
  before(async () => {
    sidecar = await start({
      modelRepository: repository.dir,
      tls: { cert: pki.server.cert, key: pki.server.key },
    });
  });

  it("serves a client that trusts the CA", async () => {
    await assertServes(connect(sidecar, grpc.credentials.createSsl(pki.ca)));
  });

  it("serves a client that presents a certificate it did not ask for", async () => {
    await assertServes(
      connect(sidecar, grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert)),
    );
  });

  it("refuses a plaintext client", async () => {
    await assertRefusedConnection(connect(sidecar, grpc.credentials.createInsecure()));
  });

  it("is refused by a client that does not trust the CA", async () => {
    await assertRefusedConnection(connect(sidecar, grpc.credentials.createSsl()));
  });
});

describe("mutual TLS", () => {
  let sidecar: Sidecar;
  before(async () => {
    sidecar = await start({
      modelRepository: repository.dir,
      tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca },
    });
  });

  it("serves a client whose certificate the client CA signed", async () => {
    await assertServes(
      connect(sidecar, grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert)),
    );
  });

  it("refuses a client without a certificate", async () => {
    await assertRefusedConnection(connect(sidecar, grpc.credentials.createSsl(pki.ca)));
  });

  it("refuses a client whose certificate another CA signed", async () => {
    await assertRefusedConnection(
      connect(
        sidecar,
        grpc.credentials.createSsl(pki.ca, pki.strangerClient.key, pki.strangerClient.cert),
      ),
    );
  });

  it("refuses a plaintext client", async () => {
    await assertRefusedConnection(connect(sidecar, grpc.credentials.createInsecure()));
  });
});

function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

const load = (client: ProtocolClient, metadata?: grpc.Metadata) =>
  client.call(
    "repositoryModelLoad",
    create(RepositoryModelLoadRequestSchema, { modelName: "identity-fp32" }),
    { metadata },
  );
const unload = (client: ProtocolClient, metadata?: grpc.Metadata) =>
  client.call(
    "repositoryModelUnload",
    create(RepositoryModelUnloadRequestSchema, { modelName: "identity-fp32" }),
    { metadata },
  );
const ready = async (client: ProtocolClient) =>
  (
    await client.call<{ ready: boolean }>(
      "modelReady",
      create(ModelReadyRequestSchema, { name: "identity-fp32", version: "" }),
    )
  ).ready;

describe("admin token in explicit mode", () => {
  let client: ProtocolClient;
  before(async () => {
    const sidecar = await start({
      modelRepository: repository.dir,
      modelControlMode: "explicit",
      adminToken: ADMIN_TOKEN,
    });
    client = connect(sidecar);
  });

  it("refuses RepositoryModelLoad/Unload without a bearer header: UNAUTHENTICATED", async () => {
    for (const call of [load, unload]) {
      const error = await statusOf(call(client));
      assert.equal(error.code, grpc.status.UNAUTHENTICATED, error.details);
      assert.match(error.details, /"authorization: Bearer <token>" header/);
    }
    const notBearer = new grpc.Metadata();
    notBearer.set(
      "authorization",
      `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`,
    );
    assert.equal((await statusOf(load(client, notBearer))).code, grpc.status.UNAUTHENTICATED);
    assert.equal(await ready(client), false, "nothing was loaded");
  });

  it("refuses a wrong token: PERMISSION_DENIED", async () => {
    for (const token of ["wrong-admin-token", `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)]) {
      for (const call of [load, unload]) {
        const error = await statusOf(call(client, bearer(token)));
        assert.equal(error.code, grpc.status.PERMISSION_DENIED, `${token}: ${error.details}`);
        assert.match(error.details, /not the admin token/);
        assert.doesNotMatch(
          error.details,
          new RegExp(ADMIN_TOKEN),
          "the message never echoes the token",
        );
      }
    }
    assert.equal(await ready(client), false, "nothing was loaded");
  });

  it("loads and unloads with the right token", async () => {
    await load(client, bearer(ADMIN_TOKEN));
    assert.equal(await ready(client), true);
    await assertServes(client);
    await unload(client, bearer(ADMIN_TOKEN));
    assert.equal(await ready(client), false);
    await load(client, bearer(ADMIN_TOKEN));
  });

  it("needs no token for inference, metadata, statistics or the index", async () => {
    await load(client, bearer(ADMIN_TOKEN));
    await assertServes(client);
    const server = await client.call<ServerMetadataResponse>(
      "serverMetadata",
      create(ServerMetadataRequestSchema),
    );
    assert.equal(server.name, "sluice");
    const model = await client.call<ModelMetadataResponse>(
      "modelMetadata",
      create(ModelMetadataRequestSchema, { name: "identity-fp32" }),
    );
    assert.deepEqual(
      model.inputs.map((t) => t.name),
      ["INPUT0"],
    );
    const index = await client.call<RepositoryIndexResponse>(
      "repositoryIndex",
      create(RepositoryIndexRequestSchema),
    );
    assert.deepEqual(
      index.models.map((m) => [m.name, m.state]),
      [["identity-fp32", "READY"]],
    );
    const stats = await modelStatistics(client, "identity-fp32");
    assert.ok(stats.inferenceCount >= 1n);
  });
});

describe("repository RPCs outside explicit mode", () => {
  let client: ProtocolClient;
  before(async () => {
    const sidecar = await start({
      modelRepository: repository.dir,
      modelControlMode: "none",
      adminToken: ADMIN_TOKEN,
    });
    client = connect(sidecar);
  });

  it("are FAILED_PRECONDITION whatever the token, and change nothing", async () => {
    for (const metadata of [undefined, bearer("wrong-admin-token"), bearer(ADMIN_TOKEN)]) {
      for (const call of [load, unload]) {
        const error = await statusOf(call(client, metadata));
        assert.equal(error.code, grpc.status.FAILED_PRECONDITION, error.details);
        assert.match(error.details, /--model-control-mode none.*--model-control-mode explicit/);
      }
    }
    assert.equal(await ready(client), true, "the model loaded at start still serves");
    await assertServes(client);
  });
});
