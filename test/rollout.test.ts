/**
 * Rollouts on the real stack (issue 9): the local Kafka and Redis, a real sidecar serving
 * examples/models/fraud (version 1 "stable", version 2 "canary"), fresh topics and group per test.
 * What a user relies on: each arm gets its share of entities within statistical bounds, one
 * entity always sees one arm, every record says honestly which arm and version scored it; a
 * shadow never changes the output and a shadow that fails never holds it up; a canary that breaks
 * its guard rails is rolled back (a log line, a metric, an event) and nothing is lost or doubled.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  entityBucket,
  HEADERS,
  rolloutOverrideKey,
  saltSeed,
  startPipeline,
  type Pipeline,
  type Prediction,
} from "@sluice/consumer";
import type { Sidecar } from "@sluice/server";
import { parsePrometheusText, sumSamples } from "@sluice/kit";
import {
  EXAMPLE_MODELS,
  eventMessages,
  fraudConfig,
  fraudStream,
  header,
  makeRepository,
  ModelClient,
  parsePrediction,
  pipelineHarness,
  type PipelineHarness,
  type EventStream,
  ProtocolClient,
  referenceRows,
  STACK_TIMEOUT_MS,
  startTestSidecar,
  type FixtureSettings,
  type ReadRecord,
  type TestRepository,
  waitFor,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 90_000;
/** z of a two-sided 99.9 % interval. */
const Z_999 = 3.291;

/** The fraud model section without a version: the rollout's arms name them. */
function modelSection(sidecarPort: number, deadlineMs = 2_000): Record<string, unknown> {
  return {
    sidecar: `127.0.0.1:${sidecarPort}`,
    name: "fraud",
    input: "features",
    deadline_ms: deadlineMs,
  };
}

/** Arms `stable` (version 1) and `canary` (version 2) with these weights. */
function stableAndCanary(stable: number, canary: number): Record<string, unknown>[] {
  return [
    { name: "stable", version: 1, weight: stable },
    { name: "canary", version: 2, weight: canary },
  ];
}

/**
 * Topics and settings of a pipeline on 3 partitions scoring on the harness's sidecar (or the one
 * at `sidecarPort`) with this rollout section; `patch` adds other sections.
 */
function setupRollout(
  h: PipelineHarness,
  rollout: Record<string, unknown>,
  { sidecarPort, patch = {} }: { sidecarPort?: number; patch?: Record<string, unknown> } = {},
) {
  const port = sidecarPort ?? h.sidecar.grpcPort;
  return h.setup(3, {
    ...(sidecarPort === undefined ? {} : { sidecarPort }),
    patch: { model: modelSection(port), rollout, ...patch },
  } satisfies Partial<FixtureSettings>);
}

async function metric(pipeline: Pipeline, name: string, labels: Record<string, string> = {}) {
  return sumSamples(parsePrometheusText(await pipeline.metrics.registry.metrics()), name, labels);
}

function byId(records: readonly ReadRecord[]): Map<string, { p: Prediction; r: ReadRecord }[]> {
  const ids = new Map<string, { p: Prediction; r: ReadRecord }[]>();
  for (const r of records) {
    const p = parsePrediction(r.value);
    ids.set(p.id, [...(ids.get(p.id) ?? []), { p, r }]);
  }
  return ids;
}

/**
 * Starts a pipeline on `settings`, loads the stream's home countries, produces its events to
 * `input` and waits until the pipeline has processed every one.
 */
async function scoreAll(
  h: PipelineHarness,
  input: string,
  settings: FixtureSettings,
  { events, homes }: EventStream,
): Promise<Pipeline> {
  await h.loadHomes(homes);
  const pipeline = await h.pipeline(settings);
  await h.kafka.produce(input, eventMessages(events));
  await waitFor("every event processed", () => pipeline.stats.events === events.length);
  return pipeline;
}

describe("rollouts", { timeout: 6 * 60_000 }, () => {
  const h = pipelineHarness();

  it(
    "routes entities to arms by weight within 99.9 % bounds, sticky per entity, each record honest",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const salt = `weights-${h.run}`;
      const { topics, settings } = await setupRollout(h, {
        salt,
        arms: [
          { name: "stable", version: "stable", weight: 70 },
          { name: "canary", version: 2, weight: 30 },
        ],
      });
      const users = 600;
      const { events, homes } = fraudStream(7, users, 3, `${h.run}-weights`);
      const pipeline = await scoreAll(h, topics.in, settings, { events, homes });
      assert.deepEqual(pipeline.stats.deadLetters, {});

      const records = await h.read([topics.out], (read) => read.length >= events.length);
      const ids = byId(records);
      assert.equal(records.length, events.length, "one prediction per event");
      assert.deepEqual([...ids.keys()].sort(), events.map((e) => e.id).sort());

      const armOfUser = new Map<string, string>();
      const seed = saltSeed(salt);
      for (const [id, list] of ids) {
        const { p, r } = list[0]!;
        assert.ok(p.arm === "stable" || p.arm === "canary", `${id}: arm ${p.arm}`);
        assert.equal(header(r.headers, HEADERS.arm), p.arm);
        assert.equal(header(r.headers, HEADERS.modelVersion), p.model_version);
        // The version is what answered, and it is the arm's.
        assert.equal(p.model_version, p.arm === "stable" ? "1" : "2");
        // Sticky: one user, one arm, and the arm the documented bucket gives (canary: 7,000–9,999).
        const user = p.key!;
        const seen = armOfUser.get(user);
        assert.ok(seen === undefined || seen === p.arm, `${user} saw ${seen} and ${p.arm}`);
        armOfUser.set(user, p.arm);
        const bucket = entityBucket(user, seed);
        assert.equal(p.arm, bucket < 7_000 ? "stable" : "canary", `${user}: bucket ${bucket}`);
      }
      assert.equal(armOfUser.size, users);
      const canaryUsers = [...armOfUser.values()].filter((arm) => arm === "canary").length;
      const bound = Z_999 * Math.sqrt(users * 0.3 * 0.7);
      assert.ok(
        Math.abs(canaryUsers - users * 0.3) <= bound,
        `${canaryUsers} of ${users} users on the canary, expected ${users * 0.3} ± ${bound.toFixed(1)}`,
      );

      // The stable arm's scores are the reference model's for the same rows.
      const expected = await h.expectedProbabilities(referenceRows(events, homes));
      events.forEach((event, i) => {
        const { p } = ids.get(event.id)![0]!;
        if (p.arm === "stable") assert.ok(Math.abs(p.score - expected[i]![1]!) < 1e-5, event.id);
      });

      const canaryPredictions = records.filter((r) => parsePrediction(r.value).arm === "canary");
      assert.equal(
        await metric(pipeline, "sluice_consumer_rollout_predictions_total", {
          arm: "canary",
          version: "2",
        }),
        canaryPredictions.length,
      );
      assert.equal(
        await metric(pipeline, "sluice_consumer_rollout_weight", {
          arm: "canary",
          segment: "_default",
        }),
        0.3,
      );
    },
  );

  it(
    "routes by segment: the events of one channel follow that segment's weights",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await setupRollout(h, {
        arms: stableAndCanary(100, 0),
        segments: { field: "channel", weights: { web: { stable: 0, canary: 100 } } },
      });
      const { events, homes } = fraudStream(8, 40, 5, `${h.run}-segments`);
      await scoreAll(h, topics.in, settings, { events, homes });
      const ids = byId(await h.read([topics.out], (read) => read.length >= events.length));
      for (const event of events) {
        const { p } = ids.get(event.id)![0]!;
        assert.equal(p.arm, event.channel === "web" ? "canary" : "stable", event.id);
      }
      assert.ok(events.some((e) => e.channel === "web") && events.some((e) => e.channel !== "web"));
    },
  );

  it(
    "rolls back a canary whose scores drift from the primary's (score PSI)",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await setupRollout(
        h,
        {
          arms: stableAndCanary(50, 50),
          // Two different models (logistic regression, boosted trees) never score alike to 1e-3.
          guard_rails: { arm: "canary", min_events: 100, score: { max_psi: 0.001 } },
        },
        {
          patch: {
            // Its rollback is written under its name: the other tests' pipelines must not read it.
            name: "fraud-psi",
          },
        },
      );
      const { events, homes } = fraudStream(13, 100, 6, `${h.run}-psi`);
      const pipeline = await scoreAll(h, topics.in, settings, { events, homes });
      assert.equal(
        await metric(pipeline, "sluice_consumer_rollbacks_total", {
          arm: "canary",
          check: "score_psi",
        }),
        1,
      );
      const psi = await metric(pipeline, "sluice_consumer_guard_rail_score_psi", { arm: "canary" });
      assert.ok(psi > 0.001, `PSI ${psi}`);
      // After the rollback, the canary's users are the primary's.
      const after = fraudStream(14, 100, 2, `${h.run}-psi-after`);
      await h.loadHomes(after.homes);
      await h.kafka.produce(topics.in, eventMessages(after.events));
      const total = events.length + after.events.length;
      await waitFor("the later events processed", () => pipeline.stats.events === total);
      const ids = byId(await h.read([topics.out], (read) => read.length >= total));
      assert.equal(ids.size, total);
      for (const [id, list] of ids) {
        assert.equal(list.length, 1, id);
        const { p } = list[0]!;
        assert.equal(p.model_version, p.arm === "canary" ? "2" : "1", id);
      }
      const later = after.events.map((e) => ids.get(e.id)![0]!.p.arm);
      assert.deepEqual(new Set(later), new Set(["stable"]));
    },
  );

  it(
    "a shadow never changes the output; its comparison goes to metrics and the shadow topic",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const shadowTopic = (await h.kafka.topics(["shadow"], 1)).shadow;
      const { topics, settings } = await setupRollout(h, {
        arms: [{ name: "stable", version: "stable", weight: 100 }],
        shadow: { version: "canary", share: 100, deadline_ms: 2_000, topic: shadowTopic },
      });
      const { events, homes } = fraudStream(9, 30, 8, `${h.run}-shadow`);
      const pipeline = await scoreAll(h, topics.in, settings, { events, homes });

      // The output is what a pipeline without a rollout writes: version 1's scores, once each.
      await h.assertAllPredicted(topics.out, { events, homes });
      const outputs = await h.read([topics.out]);
      assert.equal(outputs.length, events.length);
      for (const r of outputs) assert.equal(parsePrediction(r.value).model_version, "1");

      const shadows = await h.read([shadowTopic], (read) => read.length >= events.length);
      assert.equal(shadows.length, events.length);
      const compared = shadows.map(
        (r) =>
          JSON.parse(r.value!.toString()) as {
            id: string;
            shadow: { version: string; score: number };
            primary: { version: string; score: number };
            agree: boolean;
            score_difference: number;
          },
      );
      assert.deepEqual(compared.map((c) => c.id).sort(), events.map((e) => e.id).sort());
      for (const c of compared) {
        assert.equal(c.shadow.version, "2");
        assert.equal(c.primary.version, "1");
        assert.ok(Math.abs(c.score_difference - (c.shadow.score - c.primary.score)) < 1e-9);
      }
      const agree = compared.filter((c) => c.agree).length;
      await waitFor("the shadow's comparisons counted", async () =>
        (await metric(pipeline, "sluice_consumer_shadow_predictions_total")) === events.length
          ? true
          : undefined,
      );
      assert.equal(
        await metric(pipeline, "sluice_consumer_shadow_predictions_total", { agreement: "agree" }),
        agree,
      );
      assert.equal(
        await metric(pipeline, "sluice_consumer_shadow_score_difference_count", { version: "2" }),
        events.length,
      );
      assert.equal(
        await metric(pipeline, "sluice_consumer_shadow_requests_total", { outcome: "failure" }),
        0,
      );
    },
  );

  it(
    "a shadow version that does not serve fails its own calls only: the output is whole and on time",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await setupRollout(h, {
        arms: [{ name: "stable", version: "stable", weight: 100 }],
        shadow: { version: 9, deadline_ms: 300 },
      });
      const { events, homes } = fraudStream(10, 20, 10, `${h.run}-dead-shadow`);
      const pipeline = await scoreAll(h, topics.in, settings, { events, homes });
      await h.assertAllPredicted(topics.out, { events, homes });
      assert.equal(pipeline.stats.retries, 0, "the shadow's failures never retried a micro-batch");
      assert.deepEqual(pipeline.stats.deadLetters, {});
      const failed = await metric(pipeline, "sluice_consumer_shadow_requests_total", {
        version: "9",
      });
      assert.equal(
        await metric(pipeline, "sluice_consumer_shadow_requests_total", { outcome: "success" }),
        0,
      );
      assert.ok(failed > 0 && failed === pipeline.stats.microBatches, `${failed} shadow calls`);
    },
  );
});

describe("rollouts: guard rails", { timeout: 4 * 60_000 }, () => {
  const h = pipelineHarness();
  let repository: TestRepository;
  let sidecar: Sidecar;
  let protocol: ProtocolClient;
  before(
    async () => {
      // A sidecar of this file's own, polling its repository: removing version 2 unloads it.
      repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
      sidecar = await startTestSidecar({
        modelRepository: repository.dir,
        modelControlMode: "poll",
        repositoryPollSecs: 1,
      });
      protocol = new ProtocolClient(`127.0.0.1:${sidecar.grpcPort}`);
    },
    { timeout: STACK_TIMEOUT_MS },
  );
  after(async () => {
    protocol?.close();
    await sidecar?.close();
    await repository?.remove();
  });

  it(
    "rolls a failing canary back to the primary: a log line, a metric, an event; nothing lost or doubled",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const eventsTopic = (await h.kafka.topics(["rollout-events"], 1))["rollout-events"];
      const { topics, settings } = await setupRollout(
        h,
        {
          arms: stableAndCanary(50, 50),
          guard_rails: { arm: "canary", min_events: 20, error_rate: { max: 0.05 } },
          events_topic: eventsTopic,
        },
        { sidecarPort: sidecar.grpcPort },
      );
      const lines: string[] = [];
      const log = {
        debug: () => {},
        info: () => {},
        warn: (_: object, message: string) => void lines.push(message),
        error: (_: object, message: string) => void lines.push(message),
        child: () => log,
      };
      const pipeline = await startPipeline(await fraudConfig(settings), { log });
      try {
        const first = fraudStream(11, 40, 4, `${h.run}-guard-1`);
        await h.loadHomes(first.homes);
        await h.kafka.produce(topics.in, eventMessages(first.events));
        await waitFor("the first events processed", () => pipeline.stats.events === 160);
        const before = byId(await h.read([topics.out], (read) => read.length >= 160));
        assert.ok([...before.values()].some((list) => list[0]!.p.arm === "canary"));

        // The canary's version goes away: its calls fail from now on.
        await rm(join(repository.dir, "fraud", "2"), { recursive: true });
        const models = new ModelClient(protocol);
        await waitFor("version 2 unloaded", async () =>
          (await models.ready("fraud", "2").catch(() => false)) ? undefined : true,
        );

        const second = fraudStream(12, 40, 4, `${h.run}-guard-2`);
        await h.loadHomes(second.homes);
        await h.kafka.produce(topics.in, eventMessages(second.events));
        await waitFor("every event processed", () => pipeline.stats.events === 320);

        const all = [...first.events, ...second.events];
        const ids = byId(await h.read([topics.out], (read) => read.length >= all.length));
        assert.deepEqual([...ids.keys()].sort(), all.map((e) => e.id).sort(), "every event");
        for (const [id, list] of ids) assert.equal(list.length, 1, `${id} published once`);
        for (const event of second.events) {
          const { p, r } = ids.get(event.id)![0]!;
          // After the rollback the canary's users are the primary's, and the records say so.
          assert.equal(p.arm, "stable", event.id);
          assert.equal(p.model_version, "1");
          assert.equal(header(r.headers, HEADERS.arm), "stable");
        }
        assert.deepEqual(pipeline.stats.deadLetters, {});

        assert.equal(
          await metric(pipeline, "sluice_consumer_rollbacks_total", {
            arm: "canary",
            check: "error_rate",
          }),
          1,
        );
        assert.equal(
          await metric(pipeline, "sluice_consumer_rollout_weight", { arm: "canary" }),
          0,
        );
        assert.ok(
          lines.some((line) =>
            /rolled back arm "canary" \(version 2\) to "stable": error rate/.test(line),
          ),
          lines.join("\n"),
        );
        // Recorded for every consumer of the pipeline (and a `sluice rollout` ramp in progress).
        const recorded = JSON.parse(
          (await h.redis.hget(rolloutOverrideKey(h.keyPrefix, "fraud"), "value")) ?? "{}",
        ) as { generation?: number; rolled_back?: string[]; by?: string };
        assert.deepEqual(
          [recorded.generation, recorded.rolled_back, recorded.by],
          [1, ["canary"], "guard-rails"],
        );
        const published = await h.read([eventsTopic], (read) => read.length >= 1);
        assert.equal(published.length, 1);
        const event = JSON.parse(published[0]!.value!.toString()) as {
          type: string;
          arm: string;
          version: string;
          breaches: { check: string }[];
        };
        assert.equal(event.type, "rollback");
        assert.equal(event.arm, "canary");
        assert.equal(event.version, "2");
        assert.deepEqual(
          event.breaches.map((b) => b.check),
          ["error_rate"],
        );
      } finally {
        await pipeline.stop();
      }
    },
  );
});
