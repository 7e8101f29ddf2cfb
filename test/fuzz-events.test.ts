/**
 * Fuzzing the consumer with events (issue 12): arbitrary and malformed Kafka records (bad JSON,
 * wrong types, missing fields, huge values, NaN and Infinity as strings and as number literals,
 * binary garbage, empty values and tombstones, JSON that is not an object, bad headers) produced
 * into a real topic and consumed by a real pipeline (Kafka, Redis, the sidecar). What a user
 * relies on: every record ends as exactly one prediction or exactly one dead letter carrying its
 * original bytes and a reason a person can act on; the good events among them are scored; and the
 * consumer stays up. Each fast-check run is one batch of records, checked by counts as soon as it
 * is consumed (so a failing batch shrinks); every record is then accounted for by its key.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { CONSUMER_ERROR_CODES, type Pipeline } from "@sluice/consumer";
import {
  header,
  parsePrediction,
  PipelineHarness,
  propertyFailure,
  STACK_TIMEOUT_MS,
  waitFor,
  type TestMessage,
} from "@sluice/testing";

/** Batches, one per property run: some 1,100 records in all, well under 60 s. */
const RUNS = 80;
/** Far below Kafka's 1 MB message limit, far above any field a real event has. */
const HUGE_CHARS = 200_000;

/** A valid event of the fraud pipeline, for user `user`. */
function goodEvent(id: string, user: string): Record<string, unknown> {
  return {
    id,
    user_id: user,
    amount: 42.5,
    currency: "EUR",
    merchant_id: "m1",
    merchant_category: "grocery",
    country: "FR",
    channel: "pos",
    account_age_days: 400,
    timestamp: new Date(Date.UTC(2024, 2, 7, 12)).toISOString(),
  };
}

const FIELDS = Object.keys(goodEvent("x", "u"));

/** A value of a wrong type, or a right type with an awkward value. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "", " ", "null", "0x10", "١٢٣"),
  fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -0, 2 ** 53 + 1, -1),
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  fc.constant("x".repeat(HUGE_CHARS)),
);

/** What a record's value is, before the unique id and user of its run are put in. */
type ValueSpec =
  | { kind: "good" }
  | { kind: "mutated"; drop: string[]; set: [string, unknown][] }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "tombstone" }
  | { kind: "literal"; field: string; literal: string };

const valueSpec: fc.Arbitrary<ValueSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "good" as const }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("mutated" as const),
      drop: fc.subarray(FIELDS, { maxLength: 3 }),
      set: fc.array(fc.tuple(fc.constantFrom(...FIELDS, "extra"), oddValue), {
        maxLength: 3,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("text" as const),
      text: fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom("", "{", '{"id":', "[]", "[1,2]", "42", '"text"', "null", "true", "{}"),
        fc.constantFrom('{"amount": NaN}', '{"amount": Infinity}', "{'id': 1}", "\u0000{}"),
        // Deep nesting: a recursive JSON walker would overflow the stack.
        fc.integer({ min: 1_000, max: 50_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("bytes" as const),
      bytes: fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        // Invalid UTF-8 inside otherwise good JSON.
        fc.constant(Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "tombstone" as const }) },
  {
    weight: 1,
    // Number literals JSON.parse accepts but that are not finite or not exact.
    arbitrary: fc.record({
      kind: fc.constant("literal" as const),
      field: fc.constantFrom("amount", "account_age_days"),
      literal: fc.constantFrom("1e999", "-1e999", "1e-999", "123456789012345678901234567890"),
    }),
  },
);

/** Headers: none, ordinary, or broken (bad traceparent, binary values, odd names). */
const headersSpec = fc.option(
  fc.dictionary(
    fc.oneof(
      fc.constantFrom("traceparent", "tracestate", "sluice-error-code", "content-type"),
      fc.string({ maxLength: 10 }),
    ),
    fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom("00-zz-00-01", "ff-" + "0".repeat(32) + "-" + "0".repeat(16) + "-01", ""),
      fc.uint8Array({ maxLength: 32 }).map((bytes) => Buffer.from(bytes)),
    ),
    { maxKeys: 3 },
  ),
  { freq: 2 },
);

const batch = fc.array(fc.record({ value: valueSpec, headers: headersSpec }), {
  minLength: 1,
  maxLength: 30,
  size: "max",
});

describe("events fuzzed through the consumer", { timeout: 120_000 }, () => {
  const h = new PipelineHarness();
  let pipeline: Pipeline;
  let topics: Record<"in" | "out" | "dlq" | "review", string>;
  let fatal: unknown;
  let sent = 0;
  /** Key (the tracking id) → whether the record was a good event. */
  const produced = new Map<string, boolean>();

  before(
    async () => {
      await h.start();
      const setup = await h.setup(3, { maxEvents: 32 });
      topics = setup.topics;
      pipeline = await h.pipeline(setup.settings);
      pipeline.stopped.catch((error: unknown) => (fatal = error));
    },
    { timeout: STACK_TIMEOUT_MS },
  );

  after(() => h.close());

  function message(spec: { value: ValueSpec; headers: Record<string, string | Buffer> | null }) {
    const key = `${h.run}-fz-${sent++}`;
    // A few users, so the windows and the previous event of each see many of the records.
    const user = `${h.run}-u${sent % 7}`;
    const event = goodEvent(key, user);
    let value: string | Buffer | null;
    switch (spec.value.kind) {
      case "good":
        value = JSON.stringify(event);
        break;
      case "mutated": {
        for (const field of spec.value.drop) delete event[field];
        for (const [field, odd] of spec.value.set) event[field] = odd;
        value = JSON.stringify(event);
        break;
      }
      case "text":
        value = spec.value.text;
        break;
      case "bytes":
        value = Buffer.from(spec.value.bytes);
        break;
      case "tombstone":
        value = null;
        break;
      case "literal":
        value = JSON.stringify(event).replace(
          new RegExp(`"${spec.value.field}":[^,}]+`),
          `"${spec.value.field}":${spec.value.literal}`,
        );
    }
    produced.set(key, spec.value.kind === "good");
    const result: TestMessage = {
      key,
      value,
      ...(spec.headers === null ? {} : { headers: spec.headers }),
    };
    return result;
  }

  it("every record becomes exactly one prediction or one dead letter with a reason, and the consumer stays up", async (t) => {
    const started = performance.now();
    await fc
      .assert(
        fc.asyncProperty(batch, async (specs) => {
          await h.kafka.produce(topics.in, specs.map(message));
          // One outcome per record: the output and dead-letter topics grow by exactly the batch.
          await waitFor(
            `${sent} records predicted or dead-lettered`,
            async () => {
              assert.equal(fatal, undefined, `the pipeline stopped: ${String(fatal)}`);
              const written =
                (await h.kafka.admin.written(topics.out)) +
                (await h.kafka.admin.written(topics.dlq));
              assert.ok(written <= sent, `${written} outcomes for ${sent} records`);
              return written === sent;
            },
            { timeoutMs: 20_000, intervalMs: 50 },
          );
        }),
        { numRuns: RUNS, seed: 20261207, endOnFailure: true },
      )
      .catch((error: unknown) => {
        throw propertyFailure(error);
      });

    const records = await h.read([topics.out, topics.dlq]);
    const outcomes = new Map<string, string[]>();
    const reasons = new Map<string, number>();
    for (const record of records) {
      const key = record.key?.toString("utf8") ?? "";
      if (record.topic === topics.out) {
        const prediction = parsePrediction(record.value);
        assert.ok(
          Number.isFinite(prediction.score) && prediction.score >= 0 && prediction.score <= 1,
          `${key}: score ${prediction.score}`,
        );
        outcomes.set(key, [...(outcomes.get(key) ?? []), "prediction"]);
        continue;
      }
      const code = header(record.headers, "sluice-error-code");
      const reason = header(record.headers, "sluice-error-message") ?? "";
      assert.ok(
        CONSUMER_ERROR_CODES.includes(code as never) && code !== "internal",
        `${key}: dead letter with code ${code}: ${reason}`,
      );
      assert.ok(reason.length >= 20, `${key}: a reason too short to act on: "${reason}"`);
      assert.match(reason, /expected|got|missing|field|value|not/i, `${key}: ${reason}`);
      reasons.set(code!, (reasons.get(code!) ?? 0) + 1);
      outcomes.set(key, [...(outcomes.get(key) ?? []), `dead letter ${code}`]);
    }
    for (const [key, good] of produced) {
      const seen = outcomes.get(key) ?? [];
      assert.equal(seen.length, 1, `${key}: ${seen.length} outcomes (${seen.join(", ")})`);
      if (good) assert.equal(seen[0], "prediction", `${key}: a good event was not scored`);
    }
    assert.equal(outcomes.size, produced.size, "no outcome without a record");
    assert.ok((reasons.get("decode_error") ?? 0) > 0, "some records could not be decoded");
    assert.ok((reasons.get("invalid_event") ?? 0) > 0, "some records did not fit the pipeline");
    assert.ok(
      [...produced.values()].some((good) => !good) &&
        records.some((r) => r.topic === topics.out && !produced.get(r.key!.toString())),
      "some malformed records were still scorable (odd values the pipeline accepts)",
    );

    // Still up: a good event after all that is scored.
    const key = `${h.run}-fz-last`;
    produced.set(key, true);
    await h.kafka.produce(topics.in, [
      { key, value: JSON.stringify(goodEvent(key, `${h.run}-u-last`)) },
    ]);
    await waitFor("the last good event predicted", async () => {
      const read = await h.read([topics.out]);
      return read.some((r) => r.key?.toString() === key);
    });
    assert.equal(fatal, undefined);
    t.diagnostic(
      `${produced.size} records in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${[...reasons].map(([code, n]) => `${n} ${code}`).join(", ")}, the rest predicted`,
    );
  });
});
