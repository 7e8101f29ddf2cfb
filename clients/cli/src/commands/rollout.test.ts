import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { HEADERS, parseRolloutConfig, type Prediction } from "@sluice/consumer";
import {
  captured,
  eventMessages,
  fraudDocument,
  fraudStream,
  header,
  parsePrediction,
  pipelineHarness,
  waitFor,
  type FixtureSettings,
} from "@sluice/testing";
import { runSluice } from "../program.js";
import { rampSteps, targetWeights } from "./rollout.js";

const run = (...args: string[]) => captured((output) => runSluice(args, { output }));

describe("sluice rollout: weights", () => {
  const config = parseRolloutConfig(
    {
      arms: [
        { name: "stable", version: 1, weight: 90 },
        { name: "canary", version: 2, weight: 10 },
        { name: "b", version: 3, weight: 0 },
      ],
    },
    "p",
  );

  test("the arms named get theirs, the others keep theirs, the primary takes the rest", () => {
    assert.deepEqual(
      targetWeights(config, [9_000, 1_000, 0], [["canary", 2_500]]),
      [7_500, 2_500, 0],
    );
    assert.deepEqual(
      targetWeights(
        config,
        [9_000, 1_000, 0],
        [
          ["canary", 2_000],
          ["b", 500],
        ],
      ),
      [7_500, 2_000, 500],
    );
    assert.throws(
      () => targetWeights(config, [9_000, 1_000, 0], [["stable", 5_000]]),
      /expected weights summing to 100 \(%\), got 60/,
    );
    assert.throws(() => targetWeights(config, [9_000, 1_000, 0], [["gamma", 1]]), /no arm "gamma"/);
  });

  test("a ramp moves linearly in equal steps and ends exactly on the target", () => {
    assert.deepEqual(rampSteps([9_000, 1_000, 0], [0, 10_000, 0], 3, 0), [
      [6_000, 4_000, 0],
      [3_000, 7_000, 0],
      [0, 10_000, 0],
    ]);
    for (const step of rampSteps([9_000, 1_000, 0], [3_333, 3_333, 3_334], 7, 0)) {
      assert.equal(
        step.reduce((a, b) => a + b, 0),
        10_000,
      );
    }
  });
});

describe("sluice rollout on a running pipeline", { timeout: 4 * 60_000 }, () => {
  const h = pipelineHarness();
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-rollout-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test(
    "ramps a canary to 100 % under load and rolls it back: no event lost, none twice, every record's version honest",
    { timeout: 120_000 },
    async () => {
      const { topics, settings } = await h.setup(3, {
        patch: {
          model: {
            sidecar: `127.0.0.1:${h.sidecar.grpcPort}`,
            name: "fraud",
            input: "features",
          },
          rollout: {
            arms: [
              { name: "stable", version: "stable", weight: 100 },
              { name: "canary", version: "canary", weight: 0 },
            ],
          },
        },
      } satisfies Partial<FixtureSettings>);
      const file = join(dir, "pipeline.yaml");
      await writeFile(file, stringify(await fraudDocument(settings)));
      const pipeline = await h.pipeline(settings);
      const sluice = (...args: string[]) => run("rollout", ...args, "--config", file);

      const { events, homes } = fraudStream(21, 100, 30, `${h.run}-ramp`);
      await h.loadHomes(homes);
      // Load: a chunk every 40 ms from before the ramp to after it.
      let produced = 0;
      let stopLoad = false;
      const load = (async () => {
        while (produced < events.length && !stopLoad) {
          const chunk = events.slice(produced, produced + 10);
          await h.kafka.produce(topics.in, eventMessages(chunk));
          produced += chunk.length;
          await sleep(40);
        }
      })();
      await waitFor("the first predictions", () => pipeline.stats.predictions > 100);

      const ramp = await sluice("set", "canary=100", "--ramp", "3s", "--steps", "3");
      assert.equal(ramp.code, 0, ramp.err);
      assert.deepEqual(ramp.out.trim().split("\n"), [
        "fraud: stable 66.67 %, canary 33.33 % (generation 1, ramp step 1/3)",
        "fraud: stable 33.33 %, canary 66.67 % (generation 2, ramp step 2/3)",
        "fraud: stable 0 %, canary 100 % (generation 3, ramp step 3/3)",
      ]);
      // Every consumer reads the override each second.
      await sleep(1_500);
      const rampedAt = produced;
      const back = await sluice("rollback");
      assert.equal(back.code, 0, back.err);
      assert.match(back.out, /every entity to "stable" \(version stable\) \(generation 4\)/);
      await sleep(1_500);
      const rolledBackAt = produced;
      stopLoad = true;
      await load;
      // The rest, after the rollback.
      await h.kafka.produce(topics.in, eventMessages(events.slice(produced)));
      await waitFor("every event processed", () => pipeline.stats.events === events.length, {
        timeoutMs: 60_000,
      });
      assert.ok(
        rampedAt < rolledBackAt && rolledBackAt < events.length,
        `${rampedAt} ${rolledBackAt}`,
      );

      const records = await h.read([topics.out], (read) => read.length >= events.length);
      const predictions = records.map((r) => ({ p: parsePrediction(r.value), r }));
      assert.equal(predictions.length, events.length, "no event twice");
      assert.deepEqual(
        predictions.map(({ p }) => p.id).sort(),
        events.map((e) => e.id).sort(),
        "no event lost",
      );
      const byId = new Map<string, Prediction>(predictions.map(({ p }) => [p.id, p]));
      for (const { p, r } of predictions) {
        assert.equal(p.model_version, p.arm === "canary" ? "2" : "1", `${p.id}: ${p.arm}`);
        assert.equal(header(r.headers, HEADERS.arm), p.arm);
      }
      // Before the ramp stable only; between its end and the rollback canary only (events produced
      // a poll interval after); after the rollback stable only.
      const arms = (from: number, to: number) =>
        new Set(events.slice(from, to).map((e) => byId.get(e.id)!.arm));
      assert.deepEqual(arms(0, 100), new Set(["stable"]));
      assert.deepEqual(arms(rampedAt - 10, rampedAt), new Set(["canary"]));
      assert.deepEqual(arms(rolledBackAt, events.length), new Set(["stable"]));
      // A user moved once each way at most, in the ramp's direction: (stable →) canary (→ stable).
      const seen = new Map<string, string[]>();
      for (const { p } of predictions) {
        const list = seen.get(p.key!) ?? [];
        if (list.at(-1) !== p.arm) list.push(p.arm!);
        seen.set(p.key!, list);
      }
      const allowed = ["stable", "canary", "stable"].join(" → ");
      for (const [user, list] of seen) {
        const path = list.join(" → ");
        assert.ok(allowed.includes(path), `${user}: ${path}`);
      }
      assert.ok([...seen.values()].some((list) => list.includes("canary")));

      const status = await sluice("status");
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, /override: generation 4 by sluice rollout .*rolled back: canary/);
      assert.match(status.out, /now: {6}stable 100 %, canary 0 %/);
      const reset = await sluice("reset");
      assert.equal(reset.code, 0, reset.err);
      assert.match((await sluice("status")).out, /override: none/);
    },
  );

  test("a ramp stops, exit 1, when a rollback comes between its steps: it never undoes it", async () => {
    const { settings } = await h.setup(1, {
      patch: {
        model: { sidecar: "127.0.0.1:1", name: "fraud", input: "features" },
        rollout: {
          arms: [
            { name: "stable", version: 1, weight: 100 },
            { name: "canary", version: 2, weight: 0 },
          ],
        },
        name: `ramp-${h.run}`,
      },
    });
    const file = join(dir, "ramp.yaml");
    await writeFile(file, stringify(await fraudDocument(settings)));
    const ramp = run(
      "rollout",
      "set",
      "canary=50",
      "--ramp",
      "3s",
      "--steps",
      "2",
      "--config",
      file,
    );
    await sleep(1_000);
    const back = await run("rollout", "rollback", "--config", file);
    assert.equal(back.code, 0, back.err);
    const { code, out, err } = await ramp;
    assert.equal(code, 1);
    assert.match(out, /stable 75 %, canary 25 % \(generation 1, ramp step 1\/2\)/);
    assert.match(err, /changed after step 1 of the ramp/);
    const status = await run("rollout", "status", "--config", file);
    assert.match(status.out, /generation 2 by sluice rollout .*\(rollback\), rolled back: canary/);
    assert.equal((await run("rollout", "reset", "--config", file)).code, 0);
  });

  test("refuses a pipeline without a rollout section", async () => {
    const { settings } = await h.setup(1);
    const plain = join(dir, "plain.yaml");
    await writeFile(plain, stringify(await fraudDocument(settings)));
    const none = await run("rollout", "status", "--config", plain);
    assert.equal(none.code, 2);
    assert.match(none.err, /pipeline "fraud" has no rollout: section/);
  });
});
