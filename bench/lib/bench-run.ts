/**
 * A Kafka benchmark's run that always cleans up after itself: on SIGINT or SIGTERM, past its time
 * limit, and at its end, the children of `child.ts` are stopped and what the run registered with
 * `onRelease` (its topics, groups, Redis keys, clients) is released, once, within a bound.
 */
import { cleanUp } from "./child.js";

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
