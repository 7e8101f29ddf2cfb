/**
 * `sluice consume` as a process, the way it runs in production: a bad pipeline file stops it at
 * once with the reason; SIGTERM finishes the micro-batch in hand, commits and leaves the group;
 * SIGKILL mid-stream and a restart lose nothing (at-least-once) or show every id exactly once
 * to a read-committed reader (exactly-once, on both Kafka clients: they fence zombies differently).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VerifyReport } from "@sluice/demo";
import { collectTopics } from "@sluice/testing";
import {
  type CliProcess,
  eventMessages,
  type FixtureSettings,
  fraudDocument,
  type FraudEvent,
  fraudStream,
  parsePrediction,
  pipelineHarness,
  waitFor,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 90_000;
/** A cold `node --import tsx` of the CLI plus joining the group. */
const START_TIMEOUT_MS = 30_000;

describe("sluice consume, as a process", { timeout: 6 * 60_000 }, () => {
  const h = pipelineHarness();

  /** Fresh topics and group, written into a pipeline file for the CLI. */
  async function setup(patch: Partial<FixtureSettings> = {}) {
    const { topics, settings } = await h.setup(3, { maxEvents: 16, ...patch });
    const file = await h.writeConfig(await fraudDocument(settings));
    return { topics, settings, file };
  }

  const consume = (file: string): CliProcess => h.cli(["consume", "--config", file]);

  /** Every prediction a read-committed reader sees, once the ids of `events` are all there. */
  async function predictionsFor(topic: string, events: readonly FraudEvent[]) {
    const wanted = new Set(events.map((e) => e.id));
    const collected = await collectTopics({
      brokers: h.kafka.brokers,
      topics: [topic],
      timeoutMs: 60_000,
      until: (records) => {
        const seen = new Set(records.map((r) => parsePrediction(r.value).id));
        return [...wanted].every((id) => seen.has(id));
      },
    });
    assert.ok(collected.complete, "every id arrived in time");
    return collected.records.map((record) => parsePrediction(record.value));
  }

  it(
    "refuses a bad pipeline file at once, naming the path and what was expected",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { settings } = await setup();
      const document = await fraudDocument({
        ...settings,
        patch: { batch: { linger_ms: "soon" } },
      });
      const cli = consume(await h.writeConfig(document, "bad-linger.yaml"));
      const { code } = await cli.exited;
      assert.equal(code, 2);
      assert.ok(
        cli.lines.some((line) =>
          line.includes('pipeline.batch.linger_ms: expected a non-negative integer, got "soon"'),
        ),
        cli.lines.join("\n"),
      );

      // A file that parses but does not fit the model: found at start, before consuming anything.
      const narrow = await fraudDocument(settings);
      const features = narrow.pipeline["features"] as { vector: unknown[] };
      features.vector.pop();
      features.vector.push({
        name: "category_grocery",
        field: "merchant_category",
        type: "string",
        transform: {
          one_hot: { vocabulary: ["grocery", "restaurants", "fashion", "electronics", "travel"] },
        },
      });
      const mismatch = consume(await h.writeConfig(narrow, "narrow.yaml"));
      assert.equal((await mismatch.exited).code, 2);
      assert.ok(
        mismatch.lines.some((line) =>
          line.includes(
            'pipeline.features: model "fraud" version stable input "features" expects FP32 [-1, 20], the features give FP32 [-1, 19]',
          ),
        ),
        mismatch.lines.join("\n"),
      );
    },
  );

  it(
    "on SIGTERM finishes, commits, leaves the group and exits 0",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings, file } = await setup();
      const { events, homes } = fraudStream(11, 8, 25, `${h.run}-term`);
      await h.loadHomes(homes);
      const cli = consume(file);
      await cli.consuming(START_TIMEOUT_MS);
      await h.kafka.produce(topics.in, eventMessages(events));
      await waitFor(
        "every prediction written",
        async () => (await h.written(topics.out)) >= events.length,
        { timeoutMs: 30_000 },
      );
      cli.child.kill("SIGTERM");
      const { code } = await cli.exited;
      assert.equal(code, 0, cli.lines.join("\n"));
      assert.ok(cli.lines.some((line) => /"msg":"pipeline \\"fraud\\" stopped"/.test(line)));

      assert.equal(await h.kafka.admin.groupState(settings.groupId), "Empty", "left the group");
      const committed = await h.kafka.admin.committedOffsets(settings.groupId, topics.in);
      const ends = await h.kafka.admin.topicEnds(topics.in);
      for (const { partition, high } of ends) {
        // Users hash to partitions at random per run: a partition that got no event has nothing to
        // commit, and Kafka reports that as -1.
        const offset = committed.get(partition) ?? -1;
        const expected = high === 0 && offset === -1 ? -1 : high;
        assert.equal(offset, expected, `partition ${partition} committed to its end (${high})`);
      }
      assert.ok(
        ends.some(({ high }) => high !== 0),
        "the events reached at least one partition",
      );
    },
  );

  it(
    "produce → consume → verify: every synthetic event accounted for, with latencies",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { file } = await setup();
      const cli = consume(file);
      await cli.consuming(START_TIMEOUT_MS);
      const produce = h.cli([
        "produce",
        "--config",
        file,
        "--rate",
        "400",
        "--count",
        "400",
        "--malformed-ratio",
        "0.05",
        "--users",
        "50",
        "--seed",
        "3",
      ]);
      assert.equal((await produce.exited).code, 0, produce.lines.join("\n"));
      const summary =
        /^run (\S+): produced 400 records to \S+ \((\d+) fraud, (\d+) malformed\)$/m.exec(
          produce.stdout(),
        );
      assert.ok(summary !== null, produce.stdout());
      h.forgetProduceRun(summary[1]!);
      assert.ok(
        produce.lines.some((line) => /^produced \d+\/400 \(/.test(line)),
        "progress on stderr",
      );

      const verify = h.cli([
        "verify",
        "--config",
        file,
        "--expect",
        "400",
        "--timeout",
        "30",
        "--json",
      ]);
      assert.equal((await verify.exited).code, 0, `${verify.stdout()}\n${verify.lines.join("\n")}`);
      const report = JSON.parse(verify.stdout()) as VerifyReport;
      assert.equal(report.complete, true);
      assert.equal(report.inputs, 400);
      assert.deepEqual(report.missing, []);
      assert.deepEqual(report.duplicates, {});
      assert.equal(report.predicted + report.deadLetters, 400);
      assert.equal(report.deadLetters, Number(summary[3]));
      assert.ok(report.deadLetters > 0, "some malformed events went to the dead-letter topic");
      assert.equal(report.eventToPrediction?.count, report.predicted);
      assert.ok((report.produceToPrediction?.p50 ?? -1) >= 0);
      {
        const text = h.cli(["verify", "--config", file, "--timeout", "30"]);
        assert.equal((await text.exited).code, 0);
        assert.match(
          text.stdout(),
          /^inputs: 400, predictions: \d+ \(\d+ distinct inputs\), dead letters: \d+, for review: \d+$/m,
        );
        assert.match(text.stdout(), /^missing: 0$/m);
        assert.match(text.stdout(), /^event time → prediction\s+\d+ ms/m);
      }
    },
  );

  for (const [delivery, client] of [
    ["at_least_once", "platformatic"],
    ["exactly_once", "platformatic"],
    ["exactly_once", "kafkajs"],
  ] as const) {
    it(
      `${delivery} (${client}): killed with SIGKILL mid-stream and restarted, ${delivery === "exactly_once" ? "shows every id exactly once" : "loses nothing"}`,
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const { topics, file } = await setup({ delivery, client });
        const { events, homes } = fraudStream(
          delivery === "exactly_once" ? 13 : 12,
          20,
          30,
          `${h.run}-${delivery}-${client}`,
        );
        await h.loadHomes(homes);
        const first = consume(file);
        await first.consuming(START_TIMEOUT_MS);
        const producing = h.trickle(topics.in, events, { perTick: 25 });
        await waitFor(
          "some predictions",
          async () => (await h.written(topics.out)) >= events.length / 4,
          { timeoutMs: 30_000 },
        );
        first.child.kill("SIGKILL");
        await first.exited;
        const atKill = await h.written(topics.out);
        await producing;
        assert.ok(
          atKill < events.length,
          `killed mid-stream (${atKill} of ${events.length} written)`,
        );

        const second = consume(file);
        await second.consuming(START_TIMEOUT_MS);
        const predictions = await predictionsFor(topics.out, events);
        second.child.kill("SIGTERM");
        assert.equal((await second.exited).code, 0);

        const counts = new Map<string, number>();
        for (const p of predictions) counts.set(p.id, (counts.get(p.id) ?? 0) + 1);
        assert.deepEqual(
          [...counts.keys()].sort(),
          events.map((e) => e.id).sort(),
          "no id missing",
        );
        const duplicated = [...counts].filter(([, n]) => n > 1).length;
        t.diagnostic(`${atKill} records written at the kill, ${duplicated} ids seen twice`);
        if (delivery === "exactly_once") {
          assert.equal(duplicated, 0, "a read-committed reader sees each id once");
        } else {
          // The uncommitted tail of the killed consumer comes out again: allowed, and bounded.
          assert.ok(duplicated <= events.length, `${duplicated} duplicates`);
        }
      },
    );
  }
});
