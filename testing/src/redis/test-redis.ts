/**
 * A real Redis for a test. With `REDIS_URL` set (the project's stack, or CI's server) tests share
 * that server and isolate their keys with `uniquePrefix()`; otherwise, or with `own: true` (a test
 * that kills or restarts it), a `redis-server` of the test's own runs on a free loopback port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { redisConf } from "../stack/redis-config.js";
import { redisPing } from "../stack/redis-ping.js";
import { requireRedisServer } from "../stack/redis-server.js";
import { LOOPBACK, StopWaiting, freePort, waitFor } from "../wait.js";

/** A fresh machine may lack redis-server: the stack launcher installs it (apt-get, as root) or says how. */
const INSTALL_TIMEOUT_MS = 300_000;
/** redis-server answers within milliseconds; this bounds a busy machine. */
const START_TIMEOUT_MS = 10_000;

export interface TestRedisOptions {
  /** A server of the test's own even when REDIS_URL is set. @default false */
  readonly own?: boolean;
  /** An owned server keeps an append-only file fsynced on every write. @default false */
  readonly persistent?: boolean;
}

export interface TestRedis {
  readonly url: string;
  /** Whether this helper started the server (and so may kill it). */
  readonly owned: boolean;
  /** A plain client for assertions; closed by `stop()`. */
  readonly client: Redis;
  /** SIGKILL an owned server: no goodbye to its clients. */
  kill(): Promise<void>;
  /** Starts an owned server again on the same port with the same folder. */
  restart(): Promise<void>;
  /** Closes the client; kills an owned server and deletes its folder (idempotent). */
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

export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const shared = process.env["REDIS_URL"];
  if (shared !== undefined && options.own !== true) {
    const client = new Redis(shared, { lazyConnect: true });
    await client.connect();
    const notOwned = () =>
      Promise.reject(new Error(`${shared} is shared (REDIS_URL): start it with own: true`));
    return {
      url: shared,
      owned: false,
      client,
      kill: notOwned,
      restart: notOwned,
      stop: async () => void (await client.quit()),
    };
  }

  const binary = await requireRedisServer({
    timeoutMs: INSTALL_TIMEOUT_MS,
    progress: (line) => process.stderr.write(`[redis] ${line}\n`),
  });
  const dir = await mkdtemp(join(tmpdir(), "sluice-redis-"));
  const port = await freePort();
  const conf = join(dir, "redis.conf");
  await writeFile(conf, redisConf({ port, dir, appendOnly: options.persistent === true }));
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const server = spawn(binary, [conf], { stdio: "ignore" });
    child = server;
    await waitFor(
      `redis-server on ${LOOPBACK}:${port} to answer PING`,
      async () => {
        if (server.exitCode !== null) {
          throw new StopWaiting(
            new Error(`redis-server exited with ${server.exitCode} (config ${conf})`),
          );
        }
        await redisPing({ host: LOOPBACK, port }, 1_000);
        return true;
      },
      { timeoutMs: START_TIMEOUT_MS },
    );
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };

  await launch();
  const url = `redis://${LOOPBACK}:${port}`;
  // No retries: a test that kills the server wants its client's errors at once, not a queue.
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  await client.connect();
  let stopped = false;
  return {
    url,
    owned: true,
    client,
    kill,
    restart: launch,
    async stop() {
      if (stopped) return;
      stopped = true;
      client.disconnect();
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
