/**
 * The Kafka pipeline end to end, in process, on real servers: the local Kafka and Redis
 * (`ensureStack`, or KAFKA_BROKERS / REDIS_URL), a real sidecar on port 0 serving
 * examples/models/fraud, and fresh UUID topics and group per test. What a user relies on: every
 * event comes out once as a prediction or a dead letter, the features are the model's layout, a
 * replay changes no state, members of a group share the work, a misfit model is refused. The tests
 * about the Kafka port (every event once, members sharing partitions) run on both clients.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConsumerError,
  HEADERS,
  KAFKA_CLIENTS,
  startPipeline,
  type Prediction,
} from "@sluice/consumer";
import {
  type ReadRecord,
  eventMessages,
  fraudConfig,
  type FraudEvent,
  fraudStream,
  header,
  parsePrediction,
  pipelineHarness,
  referenceRows,
  waitFor,
} from "@sluice/testing";

/** Most one test may take: they run in seconds, this bounds a broken one. */
const TEST_TIMEOUT_MS = 60_000;

describe("Kafka pipeline", { timeout: 4 * 60_000 }, () => {
  const h = pipelineHarness();

  for (const client of KAFKA_CLIENTS) {
    it(
      `${client}: turns N events into exactly N predictions whose features are the README's layout`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { topics, settings } = await h.setup(3, { client });
        const { events, homes } = fraudStream(1, 12, 25, `${h.run}-exact-${client}`);
        await h.loadHomes(homes);
        const pipeline = await h.pipeline(settings);
        await h.kafka.produce(
          topics.in,
          eventMessages(events).map((m, i) => ({
            ...m,
            headers:
              i === 0
                ? { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
                : {},
          })),
        );
        await waitFor("every event processed", () => pipeline.stats.events === events.length);
        assert.equal(pipeline.stats.predictions, events.length);
        assert.deepEqual(pipeline.stats.deadLetters, {});

        const records = await h.read([topics.out]);
        const predictions = records.map((record) => parsePrediction(record.value));
        assert.equal(predictions.length, events.length);
        assert.deepEqual(
          predictions.map((p) => p.id).sort(),
          events.map((e) => e.id).sort(),
          "every id once",
        );

        const expected = await h.expectedProbabilities(referenceRows(events, homes));
        const byId = new Map<string, { prediction: Prediction; record: ReadRecord }>(
          predictions.map((prediction, i) => [prediction.id, { prediction, record: records[i]! }]),
        );
        events.forEach((event: FraudEvent, i) => {
          const { prediction, record } = byId.get(event.id)!;
          assert.equal(prediction.model, "fraud");
          assert.equal(prediction.model_version, "1");
          assert.equal(prediction.key, event.user_id);
          assert.equal(record.key?.toString(), event.user_id);
          assert.equal(prediction.event_time, event.timestamp);
          assert.ok(
            Math.abs(prediction.probabilities[0]! + prediction.probabilities[1]! - 1) < 1e-5,
          );
          assert.equal(prediction.score, prediction.probabilities[1]);
          assert.equal(prediction.confidence, Math.max(...prediction.probabilities));
          assert.equal(
            prediction.label,
            prediction.probabilities[1]! > prediction.probabilities[0]! ? 1 : 0,
          );
          // The model scored what the README's layout gives for this event and its user's history.
          assert.ok(
            Math.abs(prediction.score - expected[i]![1]!) < 1e-5,
            `event ${i} ${event.id}: pipeline score ${prediction.score}, reference ${expected[i]![1]}`,
          );
          assert.equal(header(record.headers, HEADERS.modelVersion), "1");
          assert.equal(header(record.headers, HEADERS.sourceTopic), topics.in);
        });
        const first = byId.get(events[0]!.id)!.record;
        assert.equal(
          header(first.headers, "traceparent"),
          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );

        const review = await h.read([topics.review]);
        const unsure = predictions
          .filter((p) => p.confidence < 0.6)
          .map((p) => p.id)
          .sort();
        assert.deepEqual(review.map((r) => parsePrediction(r.value).id).sort(), unsure);
      },
    );
  }

  it(
    "sends malformed events to the dead-letter topic with reasons, and the partition flows on",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(1);
      const { events, homes } = fraudStream(2, 4, 10, `${h.run}-dlq`);
      await h.loadHomes(homes);
      const good = eventMessages(events);
      const user = events[0]!.user_id;
      const { user_id: _user, ...withoutUser } = events[0]!;
      const bad = [
        {
          value: Buffer.from("{not json"),
          code: "decode_error",
          reason: /^record value: expected JSON, got "\{not json"/,
        },
        {
          value: Buffer.from([0xff, 0xfe, 0x41]),
          code: "decode_error",
          reason: /^record value: expected UTF-8 text, got 3 bytes that are not$/,
        },
        {
          value: null,
          code: "decode_error",
          reason: /^record value: expected JSON, got no value \(a tombstone\)$/,
        },
        {
          value: Buffer.from(JSON.stringify({ ...withoutUser, id: `${h.run}-nouser` })),
          code: "invalid_event",
          reason: /user_id/,
        },
        {
          value: Buffer.from(
            JSON.stringify({ ...events[1]!, id: `${h.run}-comma`, amount: "12,50" }),
          ),
          code: "invalid_event",
          reason: /^event\.amount: expected a number, got "12,50"$/,
        },
      ];
      // Each bad event sits between good ones on the one partition: offsets 1, 10, 19, 28, 37.
      const messages = good.flatMap((message, i) => {
        const spoiler = i % 8 === 0 ? bad[i / 8] : undefined;
        return spoiler === undefined
          ? [message]
          : [message, { key: user, value: spoiler.value, headers: { "x-origin": "test" } }];
      });
      assert.equal(messages.length, good.length + bad.length);
      const pipeline = await h.pipeline(settings);
      await h.kafka.produce(topics.in, messages);
      await waitFor("every event processed", () => pipeline.stats.events === messages.length);
      assert.equal(pipeline.stats.predictions, good.length);
      assert.deepEqual(pipeline.stats.deadLetters, { decode_error: 3, invalid_event: 2 });

      const letters = await h.read([topics.dlq]);
      assert.equal(letters.length, bad.length);
      letters.forEach((letter, i) => {
        const expected = bad[i]!;
        assert.equal(header(letter.headers, HEADERS.errorCode), expected.code);
        assert.match(header(letter.headers, HEADERS.errorMessage) ?? "", expected.reason);
        assert.deepEqual(letter.value, expected.value, "original bytes");
        assert.equal(letter.key?.toString(), user);
        assert.equal(header(letter.headers, "x-origin"), "test", "original headers kept");
        assert.equal(header(letter.headers, HEADERS.sourceTopic), topics.in);
        assert.equal(header(letter.headers, HEADERS.sourcePartition), "0");
        assert.equal(header(letter.headers, HEADERS.sourceOffset), String(9 * i + 1));
        assert.match(header(letter.headers, HEADERS.sourceTimestamp) ?? "", /^\d{13}$/);
      });
      const predictions = (await h.read([topics.out])).map((record) =>
        parsePrediction(record.value),
      );
      assert.deepEqual(
        predictions.map((p) => p.id),
        events.map((e) => e.id),
        "in order, none held up",
      );
    },
  );

  it(
    "replays from reset offsets without changing the Redis state or the predictions",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { topics, settings } = await h.setup(2, { keyPrefix: `${h.keyPrefix}replay:` });
      const { events, homes } = fraudStream(3, 6, 20, `${h.run}-replay`);
      await h.loadHomes(homes);
      const first = await h.pipeline(settings);
      await h.kafka.produce(topics.in, eventMessages(events));
      await waitFor("first pass", () => first.stats.events === events.length);
      const before = await h.snapshot(`${h.keyPrefix}replay:*`);
      assert.ok(Object.keys(before).length >= homes.size, "windows were written");
      await first.stop();

      await h.kafka.rewind(settings.groupId, topics.in);
      const second = await h.pipeline(settings);
      await waitFor("second pass", () => second.stats.events === events.length);
      assert.deepEqual(await h.snapshot(`${h.keyPrefix}replay:*`), before);

      const records = await h.read([topics.out], (r) => r.length >= 2 * events.length);
      assert.equal(records.length, 2 * events.length);
      const scores = new Map<string, number[]>();
      for (const record of records) {
        const prediction = parsePrediction(record.value);
        scores.set(prediction.id, [...(scores.get(prediction.id) ?? []), prediction.score]);
      }
      assert.equal(scores.size, events.length);
      for (const [id, [a, b]] of scores) assert.equal(a, b, `${id}: same score on replay`);
    },
  );

  for (const client of KAFKA_CLIENTS) {
    it(
      `${client}: shares partitions between two members and loses nothing when one leaves mid-stream`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { topics, settings } = await h.setup(4, { client });
        const { events, homes } = fraudStream(5, 16, 25, `${h.run}-group-${client}`);
        await h.loadHomes(homes);
        const a = await h.pipeline(settings);
        const b = await h.pipeline(settings);
        const messages = eventMessages(events);
        const producing = (async () => {
          for (let i = 0; i < messages.length; i += 20) {
            await h.kafka.produce(topics.in, messages.slice(i, i + 20));
            await new Promise((resolve) => setTimeout(resolve, 40));
          }
        })();
        await waitFor("both members working", () => a.stats.events > 0 && b.stats.events > 0);
        await a.stop();
        await producing;
        const records = await h.read([topics.out], (r) => {
          const ids = new Set(r.map((record) => parsePrediction(record.value).id));
          return events.every((e) => ids.has(e.id));
        });
        assert.deepEqual(
          [...new Set(records.map((r) => parsePrediction(r.value).id))].sort(),
          events.map((e) => e.id).sort(),
        );
        assert.ok(a.stats.events < events.length && b.stats.events > 0, "the work was shared");
      },
    );
  }

  it(
    "refuses a pipeline whose features do not fit the model's input",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const { settings } = await h.setup(1);
      const config = await fraudConfig(settings);
      const narrower = { ...config, features: { ...config.features, width: 19 } };
      const started = Date.now();
      await assert.rejects(startPipeline(narrower), (error: unknown) => {
        assert.ok(ConsumerError.is(error, "config_invalid"), String(error));
        assert.equal(
          error.message,
          'pipeline.features: model "fraud" version stable input "features" expects FP32 [-1, 20], the features give FP32 [-1, 19] (19 features per event)',
        );
        return true;
      });
      assert.ok(Date.now() - started < 10_000, "fails fast");
    },
  );
});
