/**
 * Test support: a Redis of the test's own, to kill and restart. It keeps an append-only file
 * fsynced on every write, so a restart finds every acknowledged write, as a production Redis
 * with persistence would: the window state survives the outage, and the features after it are
 * still exact.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireRedisServer } from "../stack/redis-server.js";
import { freePort } from "../stack/wait.js";

/** A fresh machine may lack redis-server: the stack launcher installs it (apt-get, as root) or says how. */
const INSTALL_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 10_000;

export interface OwnRedis {
  readonly url: string;
  /** SIGKILL: no goodbye to the clients. */
  kill(): Promise<void>;
  /** Starts again on the same port with the same data. */
  restart(): Promise<void>;
  /** Kills it and deletes its data. */
  remove(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const binary = await requireRedisServer({ timeoutMs: INSTALL_TIMEOUT_MS, progress: () => {} });
  const dir = await mkdtemp(join(tmpdir(), "sluice-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const process = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""].concat([
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--daemonize",
        "no",
      ]),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = process;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start:\n${output}`)),
        START_TIMEOUT_MS,
      );
      process.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
      process.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    process.removeAllListeners("exit");
    process.stdout.resume();
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
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    async remove() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
