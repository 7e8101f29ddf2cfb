/**
 * The worked example fed by a producer of its own, as a new user's first run is: plain records on
 * the input topic and no profile in Redis. Every well-formed event is scored (its lookup missed,
 * so country_mismatch is the 0.5 the models were trained with) and counted as a lookup miss; the
 * malformed ones go to the dead-letter topic with their reasons. Then `sluice load-lookups` loads
 * a profile table, and the same users' next events are scored with their home country.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HEADERS } from "@sluice/consumer";
import {
  eventMessages,
  FRAUD_PIPELINE,
  fraudStream,
  header,
  parsePrediction,
  pipelineHarness,
  referenceRows,
  runCli,
  waitFor,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 60_000;

describe("Kafka pipeline, any producer", { timeout: 3 * 60_000 }, () => {
  const h = pipelineHarness();

  it(
    "scores every well-formed event of users without a profile, dead-letters the malformed ones with reasons",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(3);
      // No h.loadHomes: nobody wrote a profile.
      const { events } = fraudStream(31, 10, 20, `${h.run}-anyone`);
      const good = eventMessages(events);
      const bad = [
        { value: Buffer.from("not json at all"), code: "decode_error", reason: /expected JSON/ },
        {
          value: Buffer.from(JSON.stringify({ ...events[0]!, id: `${h.run}-x1`, amount: "lots" })),
          code: "invalid_event",
          reason: /^event\.amount: expected a number, got "lots"$/,
        },
        {
          value: Buffer.from(JSON.stringify({ ...events[1]!, id: `${h.run}-x2`, timestamp: 1 })),
          code: "invalid_event",
          reason: /event\.timestamp/,
        },
      ];
      const pipeline = await h.pipeline(settings);
      await h.kafka.produce(topics.in, [
        ...good,
        ...bad.map(({ value }) => ({ key: events[0]!.user_id, value })),
      ]);
      const total = good.length + bad.length;
      await waitFor("every event processed", () => pipeline.stats.events === total);
      assert.equal(pipeline.stats.predictions, good.length);
      assert.deepEqual(pipeline.stats.deadLetters, { decode_error: 1, invalid_event: 2 });
      assert.equal(pipeline.metrics.counts.lookupMisses.get("country_mismatch"), good.length);

      // Each scored as the README's layout says: country_mismatch 0.5 for an unknown home.
      await h.assertAllPredicted(topics.out, { events, homes: new Map() });
      const rows = referenceRows(events, new Map());
      assert.ok(rows.every((row) => row[8] === 0.5));

      const letters = await h.read([topics.dlq]);
      assert.deepEqual(
        letters.map((letter) => header(letter.headers, HEADERS.errorCode)).sort(),
        bad.map((b) => b.code).sort(),
      );
      for (const letter of letters) {
        const expected = bad.find((b) => letter.value?.equals(b.value))!;
        assert.match(header(letter.headers, HEADERS.errorMessage) ?? "", expected.reason);
      }
    },
  );

  it(
    "scores a user's events with their home country once `sluice load-lookups` loaded the profiles",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(1);
      const { events, homes } = fraudStream(32, 4, 10, `${h.run}-loaded`);
      const dir = await mkdtemp(join(tmpdir(), "sluice-profiles-"));
      try {
        const csv = join(dir, "profiles.csv");
        await writeFile(
          csv,
          `user_id,home_country\n${[...homes].map(([user, home]) => `${user},${home}`).join("\n")}\n`,
        );
        // The command as a user runs it, from the example's own pipeline file.
        const cli = runCli([
          "load-lookups",
          "--config",
          FRAUD_PIPELINE,
          "--input",
          csv,
          "--redis-url",
          settings.redisUrl,
        ]);
        const { code } = await cli.exited;
        assert.equal(code, 0, cli.lines.join("\n"));
        assert.match(cli.stdout(), /^loaded 4 records into user:\{user_id\} \(home_country\)/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const pipeline = await h.pipeline(settings);
      await h.kafka.produce(topics.in, eventMessages(events));
      await waitFor("every event processed", () => pipeline.stats.events === events.length);
      assert.equal(pipeline.metrics.counts.lookupMisses.size, 0, "no lookup missed");
      await h.assertAllPredicted(topics.out, { events, homes });
      const predictions = (await h.read([topics.out])).map((r) => parsePrediction(r.value));
      assert.equal(predictions.length, events.length);
    },
  );
});
