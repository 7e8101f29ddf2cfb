import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { RetrainingEventJson } from "../monitoring/model-monitor.js";
import { retrainingWebhook } from "./retraining-webhook.js";

const EVENT: RetrainingEventJson = {
  type: "retraining_requested",
  pipeline: "fraud",
  model: "fraud",
  version: "1",
  at: "2026-01-01T00:00:00.000Z",
  reasons: [],
  drift: undefined,
  evaluation: undefined,
};

describe("retraining webhook", () => {
  const bodies: unknown[] = [];
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        if (request.url === "/slow") return; // never answers
        bodies.push(JSON.parse(body));
        if (request.url === "/fail") response.writeHead(503).end("busy");
        else response.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("POSTs the event as JSON", async () => {
    await retrainingWebhook(`${base}/ok`, 2_000)(EVENT);
    assert.deepEqual(bodies.at(-1), JSON.parse(JSON.stringify(EVENT)));
  });

  it("rejects a non-2xx answer, saying what came", async () => {
    await assert.rejects(retrainingWebhook(`${base}/fail`, 2_000)(EVENT), {
      message: `POST ${base}/fail: expected a 2xx answer, got 503 Service Unavailable: busy`,
    });
  });

  it("gives up after its timeout", async () => {
    await assert.rejects(retrainingWebhook(`${base}/slow`, 100)(EVENT), /timeout 100 ms/);
  });
});
