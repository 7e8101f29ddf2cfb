/**
 * A Kafka benchmark's run that always cleans up after itself: on SIGINT or SIGTERM, past its time
 * limit, and at its end, the children of `child.ts` are stopped and what the run registered with
 * `onRelease` (its topics, groups, Redis keys, clients) is released, once, within a bound.
 */
import { cpus, loadavg } from "node:os";
import { ensureStack } from "@sluice/testing";
import { BenchResources } from "../pipeline/bench-resources.js";
import { cleanUp } from "./child.js";

/** The 1, 5 and 15 minute load averages, as a run's report states them. */
export const loadAverage = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");

/** The machine, as a run's report starts. */
export function machineLine(): string {
  return `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}; node ${process.version}`;
}

/** Deleting a run's topics and groups on a busy broker: generous, but never a hang. */
const CLEANUP_TIMEOUT_MS = 60_000;

export class BenchRun {
  readonly #watchdog: NodeJS.Timeout;
  readonly #releases: (() => Promise<void>)[] = [];
  #tornDown: Promise<void> | undefined;

  /** Starts the watchdog (`maxRunMs`) and the signal handlers. */
  constructor(maxRunMs: number) {
    const stopNow = (why: string, code: number) => {
      process.stderr.write(`\n${why}: stopping the benchmark and deleting its topics\n`);
      void this.#tearDown().finally(() => process.exit(code));
    };
    process.once("SIGINT", () => stopNow("SIGINT", 130));
    process.once("SIGTERM", () => stopNow("SIGTERM", 143));
    this.#watchdog = setTimeout(
      () => stopNow(`the benchmark ran past ${maxRunMs} ms`, 2),
      maxRunMs,
    );
    this.#watchdog.unref();
  }

  /**
   * The local stack (the running one, or KAFKA_BROKERS / REDIS_URL) and the run's topics, groups
   * and keys under `prefix`, released at the end.
   */
  async resources(
    prefix: string,
  ): Promise<{ brokers: string[]; redisUrl: string; resources: BenchResources }> {
    const stack = await ensureStack({ progress: () => {} });
    const brokers = stack.brokers.split(",");
    const resources = new BenchResources(brokers, stack.redisUrl, prefix);
    this.onRelease(() => resources.release());
    await resources.connect();
    return { brokers, redisUrl: stack.redisUrl, resources };
  }

  /** Something the teardown releases, in the order registered. */
  onRelease(release: () => Promise<void>): void {
    this.#releases.push(release);
  }

  /** The end of the run: stops the watchdog and tears down. */
  async finish(): Promise<void> {
    clearTimeout(this.#watchdog);
    await this.#tearDown();
  }

  #tearDown(): Promise<void> {
    this.#tornDown ??= (async () => {
      cleanUp();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        (async () => {
          for (const release of this.#releases) await release();
        })().catch((error: unknown) => {
          process.stderr.write(`cleaning up: ${(error as Error).message}\n`);
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            process.stderr.write(`cleaning up: gave up after ${CLEANUP_TIMEOUT_MS} ms\n`);
            resolve();
          }, CLEANUP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
    })();
    return this.#tornDown;
  }
}
