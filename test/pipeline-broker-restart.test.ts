/**
 * The pipeline through a Kafka broker restart, in process on real servers. The test runs its own
 * single-node broker (the stack launcher with a state folder and port of its own, so the shared
 * broker other tests use is never stopped), stops it mid-stream and starts it again on the same
 * data. What a user relies on: the pipeline rides it out on its own, and every event comes out
 * with the features it would have had without the restart.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  ensureStack,
  eventMessages,
  fraudStream,
  freePort,
  pipelineHarness,
  type StackOptions,
  stopStack,
  waitFor,
} from "@sluice/testing";

/** How long the broker stays down: longer than a few fetch and heartbeat rounds. */
const OUTAGE_MS = 4_000;
/** The consumer rejoins after kafkajs's reconnect backoff, which grows towards 30 s. */
const RECOVERY_TIMEOUT_MS = 90_000;

describe("Kafka pipeline through a broker restart", { timeout: 4 * 60_000 }, () => {
  let stack: StackOptions;
  let stateDir: string | undefined;
  const h = pipelineHarness(async () => {
    // The shared Redis, only the broker is this file's own.
    const shared = await ensureStack({ progress: () => {} });
    stateDir = await mkdtemp(join(tmpdir(), "sluice-broker-restart-"));
    stack = {
      kafkaPort: await freePort(),
      stateDir,
      env: { REDIS_URL: shared.redisUrl },
      progress: () => {},
    };
    return stack;
  });

  after(async () => {
    if (stateDir !== undefined) {
      await stopStack({ ...stack, purge: true });
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it(
    "resumes on its own after the broker comes back, and loses nothing",
    { timeout: 3 * 60_000 },
    async () => {
      const { topics, settings } = await h.setup(3);
      const stream = fraudStream(8, 10, 20, `${h.run}-broker`);
      const { events } = stream;
      await h.loadHomes(stream.homes);
      const pipeline = await h.pipeline(settings);
      let fatal: unknown;
      pipeline.stopped.catch((error: unknown) => (fatal = error));
      const half = events.length / 2;
      await h.kafka.produce(topics.in, eventMessages(events.slice(0, half)));
      await waitFor("first half", () => pipeline.stats.events === half);

      const down = await stopStack(stack);
      assert.equal(down.kafka, "stopped", "the test's own broker stopped");
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      assert.equal(fatal, undefined, "the pipeline is still running while the broker is down");
      await ensureStack(stack);

      await h.kafka.produce(topics.in, eventMessages(events.slice(half)));
      await waitFor("second half", () => pipeline.stats.events === events.length, {
        timeoutMs: RECOVERY_TIMEOUT_MS,
      });
      assert.equal(fatal, undefined, "the pipeline never stopped");
      assert.deepEqual(pipeline.stats.deadLetters, {});
      await h.assertAllPredicted(topics.out, stream);
    },
  );
});
