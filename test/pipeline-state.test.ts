/**
 * Feature state through the failures it must survive, on real Kafka, Redis and sidecar: a
 * consumer SIGKILLed mid-stream and restarted ends with the same state and the same features as a
 * run without the crash; a second member that takes partitions and gives them back neither loses
 * nor forks state; a persistent Redis killed and restarted loses nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  eventMessages,
  type FraudEvent,
  fraudConfig,
  fraudDocument,
  fraudStream,
  parsePrediction,
  pipelineHarness,
  referenceRows,
  startTestRedis,
  type TestRedis,
  waitFor,
} from "@sluice/testing";

/**
 * How far one row's fraud score moves between being scored alone and in a batch, relative to it:
 * up to 6.9e-6 for fraud v1 over 200 random batches of 1-64 rows (onnxruntime-node, one thread),
 * and 2.7e-5 for a score of 0.0011 in this test (a logit a few ULPs off moves a small probability
 * most); 1e-4 with margin, far below what a different feature value does.
 */
const SCORE_BATCH_NOISE = 1e-4;
/**
 * The same, in absolute terms, for the smallest scores: FP32 probabilities near 0 come out of the
 * model in steps of 2^-25 to 2^-24 (seen: 1.192093e-7 and 1.490116e-7, 2.267957e-5 and 2.276897e-5
 * for one row alone and in a batch), which is a large share of a score of 1e-7. Four such steps.
 */
const SCORE_QUANTUM_NOISE = 4 * 2 ** -24;

/** Whether two scores of one row differ by no more than the sidecar's batching can make them. */
function sameScore(score: number, calm: number): boolean {
  return Math.abs(score - calm) <= Math.max(SCORE_BATCH_NOISE * calm, SCORE_QUANTUM_NOISE);
}

const TEST_TIMEOUT_MS = 120_000;
/** A cold `node --import tsx` of the CLI plus joining the group. */
const START_TIMEOUT_MS = 30_000;
const DAY = 86_400_000;

/**
 * What any later event can still see of a state: per entity and partition, the records of the
 * last day (the longest window) before its newest one, and that newest one. Older records may or
 * may not have been pruned yet, depending on how the stream was cut into micro-batches.
 */
function live(state: Map<string, (number | string)[][]>) {
  const out: Record<string, (number | string)[][]> = {};
  for (const [key, rows] of [...state].sort(([a], [b]) => a.localeCompare(b))) {
    const newest = Math.max(...rows.map((row) => Number(row[1])));
    out[key] = rows.filter((row, i) => Number(row[1]) > newest - DAY || i === rows.length - 1);
  }
  return out;
}

describe(
  "Feature state through crashes, rebalances and Redis restarts",
  { timeout: 8 * 60_000 },
  () => {
    const h = pipelineHarness();

    /** Every prediction on `topic` once each event id is there: id → its scores (replays too). */
    async function scores(topic: string, events: readonly FraudEvent[]) {
      const wanted = new Set(events.map((e) => e.id));
      const records = await h.read([topic], (read) => {
        const seen = new Set(read.map((r) => parsePrediction(r.value).id));
        return [...wanted].every((id) => seen.has(id));
      });
      const byId = new Map<string, number[]>();
      for (const record of records) {
        const p = parsePrediction(record.value);
        byId.set(p.id, [...(byId.get(p.id) ?? []), p.score]);
      }
      return byId;
    }

    /** Asserts each event's every prediction scored what the README's layout gives it. */
    async function assertScoresMatchReference(
      byId: Map<string, number[]>,
      events: readonly FraudEvent[],
      homes: ReadonlyMap<string, string>,
    ) {
      const expected = await h.expectedProbabilities(referenceRows(events, homes));
      events.forEach((event, i) => {
        const got = byId.get(event.id);
        assert.ok(got !== undefined && got.length > 0, `${event.id} predicted`);
        for (const score of got) {
          assert.ok(
            Math.abs(score - expected[i]![1]!) < 1e-5,
            `${event.id}: score ${score}, reference ${expected[i]![1]} (all: ${got.join(", ")})`,
          );
        }
      });
    }

    it(
      "SIGKILLed mid-stream and restarted: the same state and the same features as without the crash",
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const { events, homes } = fraudStream(41, 24, 30, `${h.run}-crash`);
        await h.loadHomes(homes);
        const spec = (await fraudConfig((await h.setup(1)).settings)).features;

        // Without a crash, in process.
        const calm = await h.setup(3, { keyPrefix: `${h.keyPrefix}calm:`, maxEvents: 16 });
        const pipeline = await h.pipeline(calm.settings);
        await h.kafka.produce(calm.topics.in, eventMessages(events));
        await waitFor("the calm run", () => pipeline.stats.events === events.length, {
          timeoutMs: 60_000,
        });
        const calmScores = await scores(calm.topics.out, events);
        const calmState = await h.featureState(calm.settings.keyPrefix, spec);
        await pipeline.stop();

        // The same events, through `sluice consume` killed mid-stream and started again.
        const crash = await h.setup(3, { keyPrefix: `${h.keyPrefix}crash:`, maxEvents: 16 });
        // The rewind below replays every event recorded: the state must reach back over the
        // whole stream's event time, which `redis.retention_slack` promises (by default an hour,
        // enough for a crash's last micro-batch; docs: consumer/README.md, "Feature state").
        const times = events.map((e) => Date.parse(e.timestamp));
        const spanDays = Math.ceil((Math.max(...times) - Math.min(...times)) / DAY) + 1;
        const file = await h.writeConfig(
          await fraudDocument({
            ...crash.settings,
            patch: {
              redis: {
                url: crash.settings.redisUrl,
                key_prefix: crash.settings.keyPrefix,
                retention_slack: `${spanDays}d`,
              },
            },
          }),
        );
        const first = h.cli(["consume", "--config", file]);
        await first.consuming(START_TIMEOUT_MS);
        const producing = h.trickle(crash.topics.in, events);
        await waitFor(
          "a third predicted",
          async () => (await h.written(crash.topics.out)) >= events.length / 3,
          {
            timeoutMs: 60_000,
          },
        );
        first.child.kill("SIGKILL");
        await first.exited;
        const atKill = await h.written(crash.topics.out);
        assert.ok(atKill < events.length, `killed mid-stream (${atKill} of ${events.length})`);
        // Whether the kill landed between a batch's state write and its commit is luck; make the
        // worst case certain: as if nothing had been committed, everything recorded comes again.
        // (The group must be empty for that: the killed member's session expires first.)
        await waitFor(
          "the killed member out of the group",
          async () => (await h.kafka.admin.groupState(crash.settings.groupId)) === "Empty",
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        await h.kafka.rewind(crash.settings.groupId, crash.topics.in);
        await producing;
        const second = h.cli(["consume", "--config", file]);
        await second.consuming(START_TIMEOUT_MS);
        const crashScores = await scores(crash.topics.out, events);
        second.child.kill("SIGTERM");
        assert.equal((await second.exited).code, 0);

        // Every prediction, the replayed ones too, is the calm run's, and both are the reference's.
        // Within sameScore's noise: ONNX Runtime scores a row a few ULPs differently alone and in a
        // batch (its kernels differ by batch size), and which rows the sidecar batches together
        // depends on timing. The same features are checked exactly below, through the state.
        let replayed = 0;
        for (const event of events) {
          const [calmScore] = calmScores.get(event.id)!;
          const got = crashScores.get(event.id)!;
          replayed += got.length - 1;
          assert.ok(
            got.every((score) => sameScore(score, calmScore!)),
            `${event.id}: ${got.join(", ")} vs ${calmScore}`,
          );
        }
        t.diagnostic(`${atKill} predictions at the kill, ${replayed} replayed`);
        await assertScoresMatchReference(calmScores, events, homes);
        // And the state: every event once, the same records (one key per user: 24).
        assert.equal(Object.keys(live(calmState)).length, 24);
        assert.deepEqual(
          live(await h.featureState(crash.settings.keyPrefix, spec)),
          live(calmState),
        );
      },
    );

    it(
      "a second member takes partitions and gives them back: no state lost, none forked",
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const { events, homes } = fraudStream(42, 24, 30, `${h.run}-rebalance`);
        await h.loadHomes(homes);
        const { topics, settings } = await h.setup(6, {
          keyPrefix: `${h.keyPrefix}rebalance:`,
          maxEvents: 16,
        });
        const spec = (await fraudConfig(settings)).features;
        const a = await h.pipeline(settings);
        const producing = h.trickle(topics.in, events, { pauseMs: 80 });
        await waitFor("a working alone", () => a.stats.events > events.length / 5, {
          timeoutMs: 60_000,
        });
        const b = await h.pipeline(settings);
        await waitFor("b took partitions and worked", () => b.stats.events > 20, {
          timeoutMs: 60_000,
        });
        await b.stop();
        await producing;
        // b's leave reaches a at its next heartbeat, as a rebalance: on a loaded machine that may
        // come after the last event was produced.
        await waitFor("a saw b join and leave", () => a.metrics.counts.rebalances >= 3, {
          timeoutMs: 60_000,
        });
        const byId = await scores(topics.out, events);
        t.diagnostic(
          `a: ${a.stats.events} events, ${a.stats.retries} retries; b: ${b.stats.events} events; rebalances seen by a: ${a.metrics.counts.rebalances}`,
        );
        assert.ok(a.metrics.counts.rebalances >= 3, "a saw b join and leave");
        await assertScoresMatchReference(byId, events, homes);
        // Dropping revoked partitions meant a never answered from a copy b had moved past.
        assert.equal(a.metrics.counts.retries.get("store_unavailable") ?? 0, 0);
        // The state holds each event once: what a run of one member would hold.
        const calm = await h.setup(6, { keyPrefix: `${h.keyPrefix}rebalance-calm:` });
        const alone = await h.pipeline(calm.settings);
        await h.kafka.produce(calm.topics.in, eventMessages(events));
        await waitFor("the calm run", () => alone.stats.events === events.length, {
          timeoutMs: 60_000,
        });
        assert.deepEqual(
          live(await h.featureState(settings.keyPrefix, spec)),
          live(await h.featureState(calm.settings.keyPrefix, spec)),
        );
      },
    );

    it(
      "a persistent Redis killed and restarted mid-stream loses no state",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        let redis: TestRedis | undefined;
        try {
          redis = await startTestRedis({ own: true, persistent: true });
          const { events, homes } = fraudStream(43, 12, 30, `${h.run}-redis`);
          await h.loadHomes(homes, redis.client);
          const { topics, settings } = await h.setup(2, { redisUrl: redis.url, maxEvents: 16 });
          const pipeline = await h.pipeline(settings);
          const producing = h.trickle(topics.in, events, { pauseMs: 60 });
          await waitFor("some processed", () => pipeline.stats.events > events.length / 3, {
            timeoutMs: 60_000,
          });
          await redis.kill();
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          await redis.restart();
          await producing;
          const byId = await scores(topics.out, events);
          assert.ok(
            (pipeline.metrics.counts.retries.get("store_unavailable") ?? 0) > 0,
            "the outage was felt",
          );
          await assertScoresMatchReference(byId, events, homes);
        } finally {
          await redis?.stop();
        }
      },
    );
  },
);
