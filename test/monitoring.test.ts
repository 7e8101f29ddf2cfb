/**
 * Model monitoring on the real stack (issue 9, docs/monitoring.md): the local Kafka and Redis, a
 * real sidecar serving examples/models/fraud, fresh topics and group per test. What a user relies
 * on: a stream like the reference reads stable; a shifted one moves the band to major, with a
 * drift event on the drift topic; the PSI on /metrics is the PSI of the known distributions,
 * computed here from the rows and scores the pipeline saw.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HEADERS, type Pipeline } from "@sluice/consumer";
import { parsePrometheusText, sumSamples } from "@sluice/kit";
import {
  eventMessages,
  FRAUD_FEATURE_NAMES,
  fraudStream,
  header,
  parsePrediction,
  prng,
  pipelineHarness,
  referenceRows,
  waitFor,
  type FraudEvent,
  type ReadRecord,
} from "@sluice/testing";

const TEST_TIMEOUT_MS = 120_000;
const EPSILON = 1e-4;

async function metric(pipeline: Pipeline, name: string, labels: Record<string, string> = {}) {
  return sumSamples(parsePrometheusText(await pipeline.metrics.registry.metrics()), name, labels);
}

/** Deciles as a training script would write them: edges at the k/bins quantiles, deduplicated. */
function binned(
  values: readonly number[],
  bins: number,
): { edges: number[]; proportions: number[] } {
  const sorted = [...values].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const q = sorted[Math.ceil((k / bins) * sorted.length) - 1]!;
    if (q < sorted[sorted.length - 1]! && (edges.length === 0 || q > edges[edges.length - 1]!)) {
      edges.push(q);
    }
  }
  return { edges, proportions: shares(edges, values) };
}

/** The share of `values` in each right-closed bin of `edges`. */
function shares(edges: readonly number[], values: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let bin = 0;
    while (bin < edges.length && edges[bin]! < v) bin++;
    counts[bin]!++;
  }
  return counts.map((c) => c / values.length);
}

/** PSI of `values` against a reference's bins, both shares floored at 1e-4 (docs/monitoring.md). */
function psi(reference: { edges: number[]; proportions: number[] }, values: readonly number[]) {
  const live = shares(reference.edges, values);
  let sum = 0;
  reference.proportions.forEach((e0, i) => {
    const a = Math.max(live[i]!, EPSILON);
    const e = Math.max(e0, EPSILON);
    sum += (a - e) * Math.log(a / e);
  });
  return sum;
}

function column(rows: readonly Float32Array[], c: number): number[] {
  return rows.map((row) => row[c]!);
}

describe("drift monitoring", { timeout: 6 * 60_000 }, () => {
  const h = pipelineHarness();
  let repository: string;
  /** The reference of version 1, as written to its reference.json. */
  let reference: {
    features: { name: string; edges: number[]; proportions: number[] }[];
    score: { edges: number[]; proportions: number[] };
  };

  before(async () => {
    // A reference drawn from the test's own stream: 3,000 events, their rows and version 1's scores.
    repository = await mkdtemp(join(tmpdir(), "sluice-references-"));
    const { events, homes } = fraudStream(101, 300, 10, `${h.run}-ref`);
    const rows = referenceRows(events, homes);
    const scores = (await h.expectedProbabilities(rows)).map((p) => p[1]!);
    const features = FRAUD_FEATURE_NAMES.map((name, index) => ({
      name,
      index,
      ...binned(column(rows, index), 10),
    }));
    const score = binned(scores, 10);
    reference = { features, score };
    const document = {
      format: "sluice.reference/v1",
      model: "fraud",
      version: 1,
      features_rows: rows.length,
      features,
      score: {
        output: "probabilities",
        class_index: 1,
        rows: scores.length,
        domain: [0, 1],
        ...score,
        cdf: binned(scores, 100),
      },
    };
    await mkdir(join(repository, "fraud", "1"), { recursive: true });
    await writeFile(join(repository, "fraud", "1", "reference.json"), JSON.stringify(document));
  });
  after(() => rm(repository, { recursive: true, force: true }));

  it(
    "reads stable on a stream like the reference, major once it shifts, with the PSI of the known distributions and a drift event",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const window = 1_000;
      const { topics, settings } = await h.setup(3);
      const { drift } = await h.kafka.topics(["drift"], 1);
      const pipeline = await h.pipeline({
        ...settings,
        patch: {
          model: {
            sidecar: `127.0.0.1:${h.sidecar.grpcPort}`,
            name: "fraud",
            version: 1,
            input: "features",
          },
          monitoring: {
            drift: {
              reference: "file",
              model_repository: repository,
              window: { events: window, slices: 10 },
              min_events: window,
              topic: drift,
            },
          },
        },
      });

      // Phase 1: 1,000 events from the reference's generator (another seed, other users).
      const calm = fraudStream(202, 100, 10, `${h.run}-calm`);
      await h.loadHomes(calm.homes);
      await h.kafka.produce(topics.in, eventMessages(calm.events));
      await waitFor("the calm stream processed", () => pipeline.stats.events === window);
      const calmRows = referenceRows(calm.events, calm.homes);
      for (const [index, name] of FRAUD_FEATURE_NAMES.entries()) {
        const expected = psi(reference.features[index]!, column(calmRows, index));
        const read = await metric(pipeline, "sluice_consumer_drift_psi", { subject: name });
        assert.ok(
          Math.abs(read - expected) < 1e-9,
          `${name}: PSI ${read} on /metrics, ${expected} computed here`,
        );
        assert.ok(expected < 0.1, `${name}: the calm stream's PSI ${expected} is below 0.1`);
        assert.equal(await metric(pipeline, "sluice_consumer_drift_band", { subject: name }), 0);
      }
      const calmScores = (await h.read([topics.out], (r) => r.length >= window)).map(
        (r) => parsePrediction(r.value).score,
      );
      const scorePsi = psi(reference.score, calmScores);
      assert.ok(
        Math.abs(
          (await metric(pipeline, "sluice_consumer_drift_psi", { subject: "score" })) - scorePsi,
        ) < 1e-9,
      );
      assert.equal(await metric(pipeline, "sluice_consumer_drift_band", { subject: "score" }), 0);
      assert.ok((await metric(pipeline, "sluice_consumer_drift_score_ks")) < 0.1);
      assert.ok((await metric(pipeline, "sluice_consumer_drift_score_wasserstein")) >= 0);
      assert.equal(await metric(pipeline, "sluice_consumer_drift_events_total"), 0);

      // Phase 2: the same generator with every amount ×20: the window then holds only these.
      const shifted = fraudStream(303, 100, 10, `${h.run}-shifted`);
      const events: FraudEvent[] = shifted.events.map((e) => ({ ...e, amount: e.amount * 20 }));
      await h.loadHomes(shifted.homes);
      await h.kafka.produce(topics.in, eventMessages(events));
      await waitFor("the shifted stream processed", () => pipeline.stats.events === 2 * window);
      const shiftedRows = referenceRows(events, shifted.homes);
      const amount = psi(reference.features[0]!, column(shiftedRows, 0));
      assert.ok(amount > 0.25, `amount_log PSI ${amount}`);
      const read = await metric(pipeline, "sluice_consumer_drift_psi", { subject: "amount_log" });
      assert.ok(Math.abs(read - amount) < 1e-9, `amount_log: ${read} on /metrics, ${amount} here`);
      assert.equal(
        await metric(pipeline, "sluice_consumer_drift_band", { subject: "amount_log" }),
        2,
      );
      assert.ok(
        (await metric(pipeline, "sluice_consumer_drift_events_total", {
          band: "major",
          version: "1",
        })) >= 1,
      );

      const subjectOf = (r: ReadRecord) =>
        (JSON.parse(r.value!.toString()) as Record<string, unknown>)["subject"];
      const published = await h.read([drift], (records) =>
        records.some((r) => subjectOf(r) === "amount_log"),
      );
      const event = published
        .map((r) => JSON.parse(r.value!.toString()) as Record<string, unknown>)
        .find((e) => e["subject"] === "amount_log")!;
      assert.equal(event["type"], "drift");
      assert.equal(event["model"], "fraud");
      assert.equal(event["version"], "1");
      assert.equal(event["from"], "stable");
      assert.equal(event["to"], "major");
      assert.ok((event["psi"] as number) >= 0.25);
      assert.deepEqual(event["bands"], { moderate: 0.1, major: 0.25 });
      assert.equal((event["window"] as { events: number }).events >= 500, true);
    },
  );

  it(
    "asks for retraining once when drift holds for its time: an event on the topic and a POST to the webhook, with the evidence, then nothing during the cooldown",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const posts: { path: string; type: string; body: Record<string, unknown> }[] = [];
      const server = createServer((request, response) => {
        let body = "";
        request.on("data", (chunk: Buffer) => (body += chunk.toString()));
        request.on("end", () => {
          posts.push({
            path: request.url ?? "",
            type: request.headers["content-type"] ?? "",
            body: JSON.parse(body) as Record<string, unknown>,
          });
          response.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const window = 400;
        const { topics, settings } = await h.setup(3);
        const { retraining } = await h.kafka.topics(["retraining"], 1);
        const pipeline = await h.pipeline({
          ...settings,
          patch: {
            monitoring: {
              drift: {
                reference: "file",
                model_repository: repository,
                window: { events: window, slices: 4 },
                // The window holds 300 to 400 events once it slides.
                min_events: 250,
              },
            },
            retraining: {
              cooldown: "1h",
              conditions: [{ metric: "psi", subject: "any_feature", above: 0.25, for: "1s" }],
              topic: retraining,
              webhook: { url: `http://127.0.0.1:${port}/hooks/retrain`, timeout_ms: 2_000 },
            },
          },
        });
        const shiftedBatch = async (seed: number) => {
          const s = fraudStream(seed, 40, 10, `${h.run}-retrain-${seed}`);
          await h.loadHomes(s.homes);
          const before = pipeline.stats.events;
          await h.kafka.produce(
            topics.in,
            eventMessages(s.events.map((e) => ({ ...e, amount: e.amount * 20 }))),
          );
          await waitFor("the batch processed", () => pipeline.stats.events === before + window);
        };
        // The drift crosses the threshold; more events after a second keep it held past `for`.
        await shiftedBatch(501);
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        await shiftedBatch(502);
        await waitFor("the webhook called", () => posts.length === 1);
        const post = posts[0]!;
        assert.equal(post.path, "/hooks/retrain");
        assert.match(post.type, /^application\/json/);
        const event = post.body;
        assert.equal(event["type"], "retraining_requested");
        assert.equal(event["model"], "fraud");
        assert.equal(event["version"], "1");
        assert.equal(typeof event["pipeline"], "string");
        const reasons = event["reasons"] as {
          condition: string;
          subjects: string[];
          value: number;
        }[];
        assert.equal(reasons.length, 1);
        assert.equal(reasons[0]!.condition, "psi of any feature above 0.25 for 1s");
        assert.ok(reasons[0]!.subjects.includes("amount_log"), reasons[0]!.subjects.join(", "));
        assert.ok(reasons[0]!.value > 0.25);
        const driftEvidence = event["drift"] as { features: { name: string; psi: number }[] };
        assert.equal(driftEvidence.features.length, FRAUD_FEATURE_NAMES.length);
        const onTopic = await h.read([retraining], (read) => read.length >= 1);
        assert.equal(onTopic.length, 1);
        assert.deepEqual(JSON.parse(onTopic[0]!.value!.toString()), event);
        assert.equal(
          await metric(pipeline, "sluice_consumer_retraining_events_total", { model: "fraud" }),
          1,
        );

        // Still drifting, within the cooldown: no second event.
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        await shiftedBatch(503);
        assert.equal(posts.length, 1);
        assert.equal(await metric(pipeline, "sluice_consumer_retraining_events_total"), 1);
        assert.equal((await h.read([retraining])).length, 1);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );
});

interface Pair {
  readonly score: number;
  readonly label: number;
}

/** The figures the evaluator must show, computed directly from the pairs. */
function direct(pairs: readonly Pair[], threshold: number) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let logLoss = 0;
  let brier = 0;
  for (const { score, label } of pairs) {
    const predicted = score >= threshold;
    if (predicted && label === 1) tp++;
    else if (predicted) fp++;
    else if (label === 1) fn++;
    const p = Math.min(Math.max(score, 1e-15), 1 - 1e-15);
    logLoss -= label === 1 ? Math.log(p) : Math.log(1 - p);
    brier += (score - label) ** 2;
  }
  const positives = pairs.filter((p) => p.label === 1).map((p) => p.score);
  const negatives = pairs.filter((p) => p.label === 0).map((p) => p.score);
  let wins = 0;
  for (const s of positives) for (const t of negatives) wins += s > t ? 1 : s === t ? 0.5 : 0;
  return {
    precision: tp + fp > 0 ? tp / (tp + fp) : Number.NaN,
    recall: tp / (tp + fn),
    rocAuc: wins / (positives.length * negatives.length),
    logLoss: logLoss / pairs.length,
    brier: brier / pairs.length,
  };
}

describe("late labels", { timeout: 6 * 60_000 }, () => {
  const h = pipelineHarness();

  for (const delivery of ["at_least_once", "exactly_once"] as const) {
    it(
      `joins labels that come before and after their predictions, evaluates them exactly, dead-letters malformed ones, and counts each pair once when a restarted consumer replays both topics (${delivery})`,
      { timeout: 3 * TEST_TIMEOUT_MS },
      async () => {
        const threshold = 0.05;
        const { topics, settings } = await h.setup(3, { delivery });
        const { labels: labelTopic, evaluation: evaluationTopic } = await h.kafka.topics(
          ["labels", "evaluation"],
          2,
        );
        const patch = {
          monitoring: {
            evaluation: { threshold, topic: evaluationTopic },
            labels: { topic: labelTopic, ttl: "1h", key_prefix: `${h.keyPrefix}labels:` },
          },
        };
        const { events, homes } = fraudStream(404, 60, 6, `${h.run}-labels-${delivery}`);
        const n = events.length;
        const random = prng(405);
        const truth = new Map(events.map((e) => [e.id, random() < 0.25 ? 1 : 0]));
        const labelMessage = (e: FraudEvent) => ({
          key: e.user_id,
          value: JSON.stringify({
            id: e.id,
            label: truth.get(e.id),
            labelled_at: new Date().toISOString(),
          }),
        });
        const early = events.filter((_, i) => i % 2 === 0);
        const late = events.filter((_, i) => i % 2 === 1);

        // Half the labels, and two malformed ones, come before any prediction.
        await h.kafka.produce(labelTopic, [
          ...early.map(labelMessage),
          { key: "x", value: "not json" },
          { key: "x", value: JSON.stringify({ id: "tx-bad", label: 7 }) },
        ]);
        await h.loadHomes(homes);
        const first = await h.pipeline({ ...settings, patch });
        await waitFor("the early labels consumed", () => first.labelsConsumed === early.length + 2);
        assert.equal(
          await metric(first, "sluice_consumer_labels_total", { outcome: "waiting" }),
          early.length,
        );
        assert.equal(
          await metric(first, "sluice_consumer_labels_total", { outcome: "invalid" }),
          2,
        );
        const dead = await h.read([topics.dlq], (read) => read.length >= 2);
        assert.deepEqual(dead.map((r) => header(r.headers, HEADERS.errorCode)).sort(), [
          "decode_error",
          "invalid_event",
        ]);
        assert.ok(
          dead.some((r) =>
            /field "label": expected 0, 1, true or false, got 7/.test(
              header(r.headers, HEADERS.errorMessage) ?? "",
            ),
          ),
        );

        // The predictions: the early labels join as they are recorded; then the late labels.
        await h.kafka.produce(topics.in, eventMessages(events));
        await waitFor("every event processed", () => first.stats.events === n);
        await h.kafka.produce(labelTopic, late.map(labelMessage));
        await waitFor(
          "every pair joined",
          async () =>
            (await metric(first, "sluice_consumer_labels_total", { outcome: "joined" })) === n,
        );

        const predictions = (await h.read([topics.out], (read) => read.length >= n)).map((r) =>
          parsePrediction(r.value),
        );
        const pairs = predictions.map((p) => ({ score: p.score, label: truth.get(p.id)! }));
        assert.equal(new Set(predictions.map((p) => p.id)).size, n);
        const expected = direct(pairs, threshold);

        const check = async (pipeline: Pipeline) => {
          const labels = { version: "1", arm: "" };
          assert.equal(await metric(pipeline, "sluice_consumer_evaluation_labels", labels), n);
          for (const [name, value] of [
            ["precision", expected.precision],
            ["recall", expected.recall],
            ["log_loss", expected.logLoss],
            ["brier", expected.brier],
          ] as const) {
            const read = await metric(pipeline, `sluice_consumer_evaluation_${name}`, labels);
            assert.ok(Math.abs(read - value) < 1e-9, `${name}: ${read} on /metrics, ${value} here`);
          }
          // The AUC from histograms: the exact one within the bound the evaluation record gives.
          const records = await h.read([evaluationTopic], (read) =>
            read.some((r) => (JSON.parse(r.value!.toString()) as { labels: number }).labels === n),
          );
          const last = records
            .map(
              (r) =>
                JSON.parse(r.value!.toString()) as {
                  labels: number;
                  rocAuc: number;
                  rocAucBound: number;
                },
            )
            .filter((r) => r.labels === n)
            .at(-1)!;
          const auc = await metric(pipeline, "sluice_consumer_evaluation_roc_auc", labels);
          assert.ok(
            Math.abs(auc - expected.rocAuc) <= last.rocAucBound + 1e-12,
            `AUC ${auc} on /metrics, exact ${expected.rocAuc}, bound ${last.rocAucBound}`,
          );
        };
        await check(first);
        await first.stop();

        // A consumer restarted from nothing (a new group: both topics read again from the start)
        // meets every pair's join already made: each pair is counted once, none twice.
        const second = await h.pipeline({
          ...settings,
          groupId: `${settings.groupId}-again`,
          patch,
        });
        await waitFor(
          "the replayed topics consumed",
          () => second.stats.events === n && second.labelsConsumed === n + 2,
        );
        await waitFor(
          "every pair joined again",
          async () =>
            (await metric(second, "sluice_consumer_labels_total", { outcome: "joined" })) === n,
        );
        assert.equal(
          await metric(second, "sluice_consumer_labels_total", { outcome: "duplicate" }),
          n,
        );
        await check(second);
      },
    );
  }
});
