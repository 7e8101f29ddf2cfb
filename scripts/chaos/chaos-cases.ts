/**
 * The faults of `npm run chaos`. Each case starts the sidecar and one consumer, starts a steady
 * load, injects its faults while the load runs, and leaves the judging to `ChaosRun.finish`.
 */
import type { TestRedis } from "@sluice/testing";
import { sleep, type ChaosRun } from "./chaos-run.js";

export interface CaseContext {
  readonly random: () => number;
  /** Events per second of the load. */
  readonly rate: number;
  readonly seed: number;
  /** Consumer SIGKILLs of the consumer-sigkill case. */
  readonly kills: number;
  /** The run's own Redis, with an append-only file (redis-sigkill). */
  readonly redis?: TestRedis;
  /** The pid of the run's own broker (broker-sigstop). */
  readonly brokerPid?: number;
}

export interface ChaosCase {
  readonly kind: string;
  /** What runs where: the shared stack, a Redis of the run's own, or a broker of its own. */
  readonly needs: "stack" | "own-redis" | "own-broker";
  /** Seconds of load: long enough to outlast the faults. */
  loadSeconds(context: CaseContext): number;
  inject(run: ChaosRun, context: CaseContext): Promise<void>;
}

/** A fault lands at a random moment in this range: from just after a recovery to steady work. */
function randomWait(random: () => number, min = 300, max = 3_000): Promise<void> {
  return sleep(min + random() * (max - min));
}

/** Sidecar and Redis faults of the short cases: enough to hit a batch in each stage. */
const REPEATS = 3;
/** How long the frozen sidecar stays stopped (issue 12). */
const SIDECAR_STOP_MS = 10_000;
/** How long the frozen broker stays stopped (issue 12): past the 6 s session timeout. */
const BROKER_STOP_MS = 20_000;
/** Joins and leaves of the second consumer: each start of a CLI process costs seconds. */
const REBALANCES = 2;
/** How long the second consumer stays in the group each time. */
const SECOND_MEMBER_MS = 3_000;

export const CHAOS_CASES: readonly ChaosCase[] = [
  {
    // SIGKILL at random moments, each followed by a restart with the same group instance id.
    kind: "consumer-sigkill",
    needs: "stack",
    loadSeconds: ({ kills }) => kills * 3.5 + 5,
    async inject(run, { random, kills }) {
      let consumer = await run.consumer();
      for (let kill = 1; kill <= kills; kill++) {
        await randomWait(random);
        consumer.child.kill("SIGKILL");
        await consumer.exited;
        // Whatever the killed process had sent is appended by now.
        await sleep(200);
        await run.recover(`consumer SIGKILL ${kill}/${kills}, restarted`, async () => {
          consumer = await run.consumer();
        });
      }
    },
  },
  {
    // SIGKILL of `sluice serve` with micro-batches in flight; a new one on the same port a second later.
    kind: "sidecar-sigkill",
    needs: "stack",
    loadSeconds: () => REPEATS * 7 + 8,
    async inject(run, { random }) {
      await run.consumer();
      for (let kill = 1; kill <= REPEATS; kill++) {
        await randomWait(random, 1_000, 3_000);
        const sidecar = run.sidecar!;
        sidecar.child.kill("SIGKILL");
        await sidecar.exited;
        await sleep(1_000);
        await run.recover(`sidecar SIGKILL ${kill}/${REPEATS}, restarted`, () =>
          run.startSidecar(),
        );
      }
    },
  },
  {
    // The sidecar frozen (SIGSTOP) for 10 s: connections open, nothing answered; then SIGCONT.
    kind: "sidecar-sigstop",
    needs: "stack",
    loadSeconds: () => SIDECAR_STOP_MS / 1000 + 12,
    async inject(run, { random }) {
      await run.consumer();
      await randomWait(random, 2_000, 4_000);
      const sidecar = run.sidecar!;
      sidecar.child.kill("SIGSTOP");
      await sleep(SIDECAR_STOP_MS);
      await run.recover(`sidecar SIGSTOP ${SIDECAR_STOP_MS / 1000} s, SIGCONT`, () =>
        sidecar.child.kill("SIGCONT"),
      );
    },
  },
  {
    // SIGKILL of Redis (append-only file, fsync always), restarted on the same port and files.
    kind: "redis-sigkill",
    needs: "own-redis",
    loadSeconds: () => REPEATS * 5 + 8,
    async inject(run, { random, redis }) {
      await run.consumer();
      for (let kill = 1; kill <= REPEATS; kill++) {
        await randomWait(random, 1_000, 3_000);
        await redis!.kill();
        await sleep(1_000);
        await run.recover(`Redis SIGKILL ${kill}/${REPEATS}, restarted`, () => redis!.restart());
      }
    },
  },
  {
    // The broker frozen (SIGSTOP) for 20 s, past every session timeout; then SIGCONT.
    kind: "broker-sigstop",
    needs: "own-broker",
    loadSeconds: () => BROKER_STOP_MS / 1000 + 15,
    async inject(run, { random, brokerPid }) {
      await run.consumer();
      await randomWait(random, 2_000, 4_000);
      const before = await run.written();
      process.kill(brokerPid!, "SIGSTOP");
      try {
        await sleep(BROKER_STOP_MS);
      } finally {
        process.kill(brokerPid!, "SIGCONT");
      }
      await run.recover(`broker SIGSTOP ${BROKER_STOP_MS / 1000} s, SIGCONT`, () => {}, before);
    },
  },
  {
    // A second consumer joins (its own instance id) and leaves (SIGTERM), again and again.
    kind: "rebalance",
    needs: "stack",
    loadSeconds: () => REBALANCES * 10 + 8,
    async inject(run, { random }) {
      await run.consumer();
      for (let round = 1; round <= REBALANCES; round++) {
        await randomWait(random, 1_000, 2_000);
        const second = await run.consumer(`${run.instanceId}-b`);
        run.fault(`second consumer joined ${round}/${REBALANCES}`);
        await sleep(SECOND_MEMBER_MS);
        second.child.kill("SIGTERM");
        const exit = await second.exited;
        if (exit.code !== 0) run.notes.push(`the second consumer exited ${exit.code} on SIGTERM`);
        run.fault(`second consumer left ${round}/${REBALANCES}`);
      }
    },
  },
];
