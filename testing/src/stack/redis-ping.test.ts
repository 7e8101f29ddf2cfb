import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, type Server, createServer } from "node:net";
import { encodeCommand, redisPing } from "./redis-ping.js";

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

/** A server that records what it got and answers each chunk with `reply(received)`. */
async function fakeRedis(reply: (received: string) => string | undefined): Promise<number> {
  const server = createServer((socket) => {
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString();
      const answer = reply(received);
      if (answer !== undefined) socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

describe("redisPing", () => {
  test("sends a RESP PING and resolves on +PONG", async () => {
    let got = "";
    const port = await fakeRedis((received) => {
      got = received;
      return "+PONG\r\n";
    });
    await redisPing({ host: "127.0.0.1", port });
    assert.equal(got, "*1\r\n$4\r\nPING\r\n");
    assert.equal(encodeCommand("AUTH", "pä").toString(), "*2\r\n$4\r\nAUTH\r\n$3\r\npä\r\n");
  });

  test("authenticates first when the URL has a password", async () => {
    let got = "";
    const port = await fakeRedis((received) => {
      got = received;
      return received.includes("PING") ? "+OK\r\n+PONG\r\n" : undefined;
    });
    await redisPing({ host: "127.0.0.1", port, username: "u", password: "pw" });
    assert.equal(got, "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n");
  });

  test("an error reply is reported as it came (a server still loading its data)", async () => {
    const port = await fakeRedis(() => "-LOADING Redis is loading the dataset in memory\r\n");
    await assert.rejects(
      redisPing({ host: "127.0.0.1", port }),
      /expected \+PONG, got -LOADING Redis is loading the dataset in memory/,
    );
  });

  test("a wrong password fails on AUTH's error", async () => {
    const port = await fakeRedis(() => "-WRONGPASS invalid password\r\n+PONG\r\n");
    await assert.rejects(
      redisPing({ host: "127.0.0.1", port, password: "x" }),
      /expected \+PONG, got -WRONGPASS/,
    );
  });

  test("a silent listener times out saying what came", async () => {
    const port = await fakeRedis(() => undefined);
    await assert.rejects(
      redisPing({ host: "127.0.0.1", port }, 200),
      /expected \+PONG within 200 ms, got ""/,
    );
  });
});
