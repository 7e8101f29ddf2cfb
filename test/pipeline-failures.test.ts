/**
 * The pipeline through outages of what it depends on, in process on real servers: the sidecar
 * stopped for a few seconds mid-stream, and Redis killed and restarted. What a user relies on:
 * while a dependency is down the partitions wait (paused, nothing committed), then resume on
 * their own, and every event comes out with the features it would have had without the outage.
 * Pausing partitions is the Kafka port's: the sidecar outage runs on both clients.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { KAFKA_CLIENTS } from "@sluice/consumer";
import { after, describe, it } from "node:test";
import {
  eventMessages,
  fraudStream,
  type TestRedis,
  pipelineHarness,
  startTestRedis,
  startTestSidecar,
  waitFor,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 60_000;
/** How long a dependency stays down: several backoff rounds. */
const OUTAGE_MS = 3_000;

describe("Kafka pipeline through outages", { timeout: 3 * 60_000 }, () => {
  const h = pipelineHarness();
  let own: TestRedis | undefined;
  after(() => own?.stop());

  for (const client of KAFKA_CLIENTS) {
    it(
      `${client}: waits out a sidecar outage with the partitions paused, then resumes and loses nothing`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { topics, settings } = await h.setup(3, { client });
        const stream = fraudStream(4, 10, 20, `${h.run}-sidecar-${client}`);
        const { events } = stream;
        await h.loadHomes(stream.homes);
        const pipeline = await h.pipeline(settings);
        const half = events.length / 2;
        await h.kafka.produce(topics.in, eventMessages(events.slice(0, half)));
        await waitFor("first half", () => pipeline.stats.events === half);

        const port = h.sidecar.grpcPort;
        await h.sidecar.close();
        await h.kafka.produce(topics.in, eventMessages(events.slice(half)));
        await waitFor("a failed attempt", () => pipeline.stats.retries > 0);
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        assert.equal(pipeline.stats.events, half, "nothing committed while the sidecar is down");
        assert.equal(pipeline.stats.lastRetry?.code, "inference_unavailable");
        h.sidecar = await startTestSidecar({ modelRepository: h.repository.dir, grpcPort: port });

        await waitFor("second half", () => pipeline.stats.events === events.length);
        assert.deepEqual(pipeline.stats.deadLetters, {});
        await h.assertAllPredicted(topics.out, stream);
      },
    );
  }

  it(
    "waits out Redis killed and restarted, then resumes with its windows intact",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      own = await startTestRedis({ own: true, persistent: true });
      const client = new Redis(own.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      client.on("error", () => {});
      try {
        await client.connect();
        const { topics, settings } = await h.setup(2, { redisUrl: own.url });
        const stream = fraudStream(6, 10, 20, `${h.run}-redis`);
        const { events } = stream;
        await h.loadHomes(stream.homes, client);
        const pipeline = await h.pipeline(settings);
        const half = events.length / 2;
        await h.kafka.produce(topics.in, eventMessages(events.slice(0, half)));
        await waitFor("first half", () => pipeline.stats.events === half);

        await own.kill();
        await h.kafka.produce(topics.in, eventMessages(events.slice(half)));
        await waitFor("a failed attempt", () => pipeline.stats.retries > 0);
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        assert.equal(pipeline.stats.events, half, "nothing committed while Redis is down");
        assert.equal(pipeline.stats.lastRetry?.code, "store_unavailable");
        await own.restart();

        await waitFor("second half", () => pipeline.stats.events === events.length);
        assert.deepEqual(pipeline.stats.deadLetters, {});
        await h.assertAllPredicted(topics.out, stream);
      } finally {
        client.disconnect();
      }
    },
  );
});
