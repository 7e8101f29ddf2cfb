/** Starting and checking the stack's Redis: Debian's redis-server on loopback, no persistence. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ServiceRecord,
  recordUntilHealthy,
  spawnDetached,
  waitForService,
} from "./processes.js";
import { redisConf } from "./redis-config.js";
import { redisPing } from "./redis-ping.js";
import { requireRedisServer } from "./redis-server.js";
import { StackError } from "./stack-error.js";
import { LOOPBACK, type ResolvedStackOptions } from "./stack-options.js";
import { servicePaths } from "./stack-paths.js";
import { isPortFree } from "../wait.js";

/**
 * Redis rewrites its command line to `redis-server 127.0.0.1:<port>` once it runs (before that it is
 * `redis-server <conf>`), so the program name is the one marker both forms share.
 */
const REDIS_MARKERS = ["redis-server"];
const PROBE_TIMEOUT_MS = 3_000;

/** PING → PONG at 127.0.0.1:port. */
export async function checkRedis(port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  await redisPing({ host: LOOPBACK, port }, timeoutMs);
}

/** Starts the stack's Redis and resolves once it answers PING; stops it again on failure. */
export async function startRedis(options: ResolvedStackOptions): Promise<ServiceRecord> {
  const { stateDir, redisPort, progress } = options;
  const paths = servicePaths(stateDir, "redis");
  const redisServer = await requireRedisServer({ timeoutMs: options.installTimeoutMs, progress });
  if (!(await isPortFree(redisPort))) {
    let who = "something";
    if (
      await checkRedis(redisPort).then(
        () => true,
        () => false,
      )
    )
      who = "a Redis";
    throw new StackError(
      "port_in_use",
      `Redis port ${LOOPBACK}:${redisPort} is taken by ${who} this stack did not start: stop it, choose another port (--redis-port), or use it: REDIS_URL=redis://${LOOPBACK}:${redisPort}`,
    );
  }
  await mkdir(paths.dir, { recursive: true });
  const conf = join(paths.dir, "redis.conf");
  await writeFile(conf, redisConf({ port: redisPort, dir: paths.dir }));

  progress(`starting Redis on ${LOOPBACK}:${redisPort} (log: ${paths.log})`);
  const pid = await spawnDetached(redisServer, [conf], { logFile: paths.log, cwd: paths.dir });
  const record = await recordUntilHealthy(
    paths,
    { pid, port: redisPort, markers: REDIS_MARKERS },
    waitForRedis,
    options,
  );
  progress(`Redis is healthy on ${LOOPBACK}:${redisPort} (pid ${pid})`);
  return record;
}

/** Waits until the recorded Redis answers PING; fails at once if its process exits. */
export async function waitForRedis(record: ServiceRecord, timeoutMs: number): Promise<void> {
  await waitForService(record, timeoutMs, {
    until: `Redis on ${LOOPBACK}:${record.port} (pid ${record.pid}) to answer PING with PONG`,
    exited: `Redis (pid ${record.pid}) exited before it answered PING on ${LOOPBACK}:${record.port}`,
    probe: async () => {
      await checkRedis(record.port);
      return true;
    },
  });
}
