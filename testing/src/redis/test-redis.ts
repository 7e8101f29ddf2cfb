/**
 * Test support: a real Redis. With `REDIS_URL` set (the project's stack launcher) tests use that
 * server; otherwise each call starts its own `redis-server` on a free loopback port, without
 * persistence, and `stop()` kills it. Tests isolate their state with `uniquePrefix()`, so a
 * shared server needs no flushing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { requireRedisServer } from "../stack/redis-server.js";
import { freePort } from "../stack/wait.js";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Redis } from "ioredis";

export interface TestRedis {
  readonly url: string;
  /** Whether this helper started the server (and so may kill it). */
  readonly owned: boolean;
  /** A plain client for assertions; closed by `stop()`. */
  readonly client: Redis;
  /** Kills an owned server (idempotent); leaves a shared one running. */
  stop(): Promise<void>;
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `sluice-test:${randomUUID()}:`;
}

/** Deletes the keys matching `pattern` (e.g. `prefix*`), so a shared server keeps no test data. */
export async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** A fresh machine may lack redis-server: the stack launcher installs it (apt-get, as root) or says how. */
const REDIS_INSTALL_TIMEOUT_MS = 300_000;

async function spawnRedis(port: number): Promise<{ url: string; child: ChildProcess }> {
  const redisServer = await requireRedisServer({
    timeoutMs: REDIS_INSTALL_TIMEOUT_MS,
    progress: (line) => process.stderr.write(`[redis] ${line}\n`),
  });
  const child = spawn(
    redisServer,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(
        new Error(`cannot start redis-server (apt-get install -y redis-server): ${error.message}`),
      );
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners("exit");
  return { url: `redis://127.0.0.1:${port}`, child };
}

/**
 * A Redis for one test file: `REDIS_URL` when set, else a fresh child process. `own` always
 * starts a child (for tests that kill it); `port` restarts one where a killed one listened.
 */
export async function startRedis(
  options: { own?: boolean; port?: number } = {},
): Promise<TestRedis> {
  const shared = process.env["REDIS_URL"];
  if (shared !== undefined && options.own !== true) {
    const client = new Redis(shared, { lazyConnect: true });
    await client.connect();
    return { url: shared, owned: false, client, stop: async () => void (await client.quit()) };
  }
  const { url, child } = await spawnRedis(options.port ?? (await freePort()));
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  await client.connect();
  let stopped = false;
  return {
    url,
    owned: true,
    client,
    async stop() {
      if (stopped) return;
      stopped = true;
      client.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}
