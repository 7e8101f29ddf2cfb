/**
 * `sluice backtest` as a user runs it (the CLI as a child process) on the real Kafka, Redis and
 * sidecar: its report matches a direct computation (the fraud layout computed from the README,
 * scored by a direct ModelInfer of each version; precision, recall, ROC AUC, log loss, agreement,
 * PSI and KS computed here from those scores and the labels), and it touches nothing live: the
 * output topics get nothing, the pipeline's group keeps its committed offsets, the pipeline's
 * feature keys in Redis keep their bytes, and the backtest's own keys are gone at the end.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  eventMessages,
  fraudDocument,
  fraudStream,
  pipelineHarness,
  prng,
  referenceRows,
  waitFor,
} from "@sluice/testing";
import type { BacktestRun } from "@sluice/consumer";

/** The q-quantile as the report takes it: the smallest value whose cumulative share reaches q. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(Math.max(Math.ceil(q * sorted.length) - 1, 0), sorted.length - 1)]!;
}

/** Exact ROC AUC: the share of (positive, negative) pairs ordered right, ties counting half. */
function exactAuc(scores: readonly number[], labels: readonly number[]): number {
  let ordered = 0;
  let pairs = 0;
  scores.forEach((p, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((n, j) => {
      if (labels[j] !== 0) return;
      pairs++;
      ordered += p > n ? 1 : p === n ? 0.5 : 0;
    });
  });
  return ordered / pairs;
}

/** The exact two-sample Kolmogorov–Smirnov distance. */
function exactKs(a: readonly number[], b: readonly number[]): number {
  const values = [...new Set([...a, ...b])].sort((x, y) => x - y);
  let d = 0;
  for (const v of values) {
    const fa = a.filter((x) => x <= v).length / a.length;
    const fb = b.filter((x) => x <= v).length / b.length;
    d = Math.max(d, Math.abs(fa - fb));
  }
  return d;
}

/** PSI of `live` against `reference` in 10 quantile bins of the reference, shares floored at 1e-4. */
function psiInDeciles(reference: readonly number[], live: readonly number[]): number {
  const sorted = [...reference].sort((x, y) => x - y);
  const max = sorted.at(-1)!;
  const edges: number[] = [];
  for (let k = 1; k < 10; k++) {
    const q = sorted[Math.max(Math.ceil((k * sorted.length) / 10) - 1, 0)]!;
    if (q < max && (edges.length === 0 || q > edges.at(-1)!)) edges.push(q);
  }
  const shares = (values: readonly number[]) => {
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of values) counts[edges.filter((e) => e < v).length]!++;
    return counts.map((c) => Math.max(c / values.length, 1e-4));
  };
  const e = shares(reference);
  const a = shares(live);
  return a.reduce((sum, ai, i) => sum + (ai - e[i]!) * Math.log(ai / e[i]!), 0);
}

function close(actual: number | null, expected: number, tolerance: number, what: string): void {
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= tolerance,
    `${what}: expected ${expected} (± ${tolerance}), got ${actual}`,
  );
}

describe("sluice backtest", { timeout: 6 * 60_000 }, () => {
  const h = pipelineHarness();

  /**
   * Runs `sluice backtest --config file …args --json`, which must exit 0: its report, and every
   * line it printed (stderr's progress too).
   */
  async function backtestReport(
    file: string,
    args: readonly string[],
  ): Promise<{ report: BacktestRun; lines: readonly string[] }> {
    const cli = h.cli(["backtest", "--config", file, ...args, "--json"]);
    const { code } = await cli.exited;
    assert.equal(code, 0, cli.lines.join("\n"));
    return { report: JSON.parse(cli.stdout()) as BacktestRun, lines: cli.lines };
  }

  test(
    "its report matches a direct computation, and nothing live changes",
    { timeout: 4 * 60_000 },
    async () => {
      const { topics, settings } = await h.setup(3);
      const { labels: labelsTopic } = await h.kafka.topics(["labels"], 2);
      const { events, homes } = fraudStream(17, 40, 12, `${h.run}-bt`);
      await h.loadHomes(homes);
      const malformed = [
        { key: `${h.run}-bt-u0`, value: "not json {" },
        { key: `${h.run}-bt-u1`, value: JSON.stringify({ id: `${h.run}-no-user`, amount: 3 }) },
      ];
      await h.kafka.produce(topics.in, [
        ...eventMessages(events.slice(0, 200)),
        ...malformed,
        ...eventMessages(events.slice(200)),
      ]);

      // The live pipeline scores the stream first: its state, offsets and outputs are what the
      // backtest must leave alone.
      await h.pipeline(settings);
      await waitFor(
        "the live pipeline to score every event",
        async () =>
          (await h.written(topics.out)) >= events.length &&
          (await h.written(topics.dlq)) >= malformed.length
            ? true
            : undefined,
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      await h.stopPipelines();
      const before = {
        state: await h.snapshot(`${h.keyPrefix}*`),
        committed: await h.kafka.admin.committedOffsets(settings.groupId, topics.in),
        written: await Promise.all(
          [topics.out, topics.dlq, topics.review].map((t) => h.written(t)),
        ),
      };
      assert.ok(Object.keys(before.state).length > 0, "the live pipeline wrote feature state");
      const liveDeadLetters = await h.read([topics.dlq]);
      const liveCodes: Record<string, number> = {};
      for (const record of liveDeadLetters) {
        const code = String(record.headers["sluice-error-code"]);
        liveCodes[code] = (liveCodes[code] ?? 0) + 1;
      }

      // The direct computation: the README's layout, each version asked directly.
      const rows = referenceRows(events, homes);
      const v2 = (await h.expectedProbabilities(rows, "2")).map((p) => p[1]!);
      const v1 = (await h.expectedProbabilities(rows, "1")).map((p) => p[1]!);
      // Labels for 90 % of the events, likelier for high scores; the first event's label is
      // corrected later (the later label wins), plus one unknown id and one that is no label.
      const random = prng(99);
      const labels = new Map<string, number>();
      const labelMessages: { key: string; value: string }[] = [];
      events.forEach((event, i) => {
        if (random() >= 0.9) return;
        const label = random() < 0.05 + 0.9 * v2[i]! ? 1 : 0;
        labels.set(event.id, label);
        labelMessages.push({
          key: event.user_id,
          value: JSON.stringify({ id: event.id, label, labelled_at: "2024-03-10T00:00:00Z" }),
        });
      });
      const first = events[0]!;
      const corrected = labels.get(first.id) === 1 ? 0 : 1;
      labels.set(first.id, corrected);
      labelMessages.push(
        {
          key: first.user_id,
          value: JSON.stringify({
            id: first.id,
            label: corrected,
            labelled_at: "2024-03-11T00:00:00Z",
          }),
        },
        { key: "nobody", value: JSON.stringify({ id: "not-an-event", label: 1 }) },
        { key: "nobody", value: JSON.stringify({ id: "x", label: "maybe" }) },
      );
      await h.kafka.produce(labelsTopic, labelMessages);

      const file = await h.writeConfig(await fraudDocument(settings));
      const { report, lines } = await backtestReport(file, [
        "--model",
        "fraud",
        "--version",
        "2",
        "--against",
        "1",
        "--labels-topic",
        labelsTopic,
      ]);

      // What was read and what the pipeline would have done with it: the live pipeline's counts.
      assert.equal(report.read, events.length + malformed.length);
      assert.equal(report.predictions, events.length);
      assert.equal(report.deadLetters, malformed.length);
      assert.deepEqual(
        Object.fromEntries(Object.entries(report.deadLettersByCode).map(([c, d]) => [c, d.count])),
        liveCodes,
      );
      assert.equal(report.complete, true);
      assert.ok(report.eventsPerSecond > 0);
      assert.match(lines.join("\n"), /backtest: 100 % /, "a progress line on stderr");

      // Per version: the score distribution of the direct scores.
      const [candidate, against] = report.versions;
      assert.equal(candidate?.role, "candidate");
      assert.deepEqual(candidate.answered, ["2"]);
      assert.deepEqual(against?.answered, ["1"]);
      for (const [version, direct] of [
        [candidate, v2],
        [against, v1],
      ] as const) {
        const sorted = [...direct].sort((a, b) => a - b);
        const what = `version ${version.requested}`;
        assert.equal(version.scored, events.length, what);
        assert.equal(version.failed, 0, what);
        close(version.scores.mean, direct.reduce((a, b) => a + b, 0) / direct.length, 1e-6, what);
        for (const [q, key] of [
          [0.1, "p10"],
          [0.5, "p50"],
          [0.9, "p90"],
          [0.99, "p99"],
        ] as const) {
          close(version.scores[key], quantile(sorted, q), 1e-6, `${what} ${key}`);
        }
        const flagged = direct.filter((s) => s >= 0.5).length / direct.length;
        close(version.scores.flagged, flagged, 1e-9, `${what} flagged`);

        // Against the labels.
        const scored = events.flatMap((event, i) =>
          labels.has(event.id) ? [{ score: direct[i]!, label: labels.get(event.id)! }] : [],
        );
        const evaluation = version.evaluation!;
        assert.equal(evaluation.labels, scored.length, what);
        assert.equal(evaluation.positives, scored.filter((s) => s.label === 1).length, what);
        const tp = scored.filter((s) => s.score >= 0.5 && s.label === 1).length;
        const fp = scored.filter((s) => s.score >= 0.5 && s.label === 0).length;
        const fn = scored.filter((s) => s.score < 0.5 && s.label === 1).length;
        close(evaluation.precision, tp / (tp + fp), 1e-9, `${what} precision`);
        close(evaluation.recall, tp / (tp + fn), 1e-9, `${what} recall`);
        const auc = exactAuc(
          scored.map((s) => s.score),
          scored.map((s) => s.label),
        );
        close(evaluation.rocAuc, auc, evaluation.rocAucBound + 1e-9, `${what} ROC AUC`);
        const logLoss =
          scored.reduce((sum, { score, label }) => {
            const p = Math.min(Math.max(score, 1e-15), 1 - 1e-15);
            return sum - (label === 1 ? Math.log(p) : Math.log(1 - p));
          }, 0) / scored.length;
        close(evaluation.logLoss, logLoss, 1e-5, `${what} log loss`);
        const brier =
          scored.reduce((sum, { score, label }) => sum + (score - label) ** 2, 0) / scored.length;
        close(evaluation.brier, brier, 1e-6, `${what} Brier`);
      }
      assert.equal(report.labels?.ids, labels.size + 1, "every id labelled, and one unknown");
      assert.equal(report.labels?.invalid, 1);
      assert.match(
        report.labels?.invalidExample ?? "",
        /expected 0, 1, true or false, got "maybe"/,
      );
      assert.equal(report.labelled, labels.size);

      // The candidate against the version it would replace.
      const comparison = report.comparison!;
      assert.equal(comparison.compared, events.length);
      const same = v2.filter((s, i) => s >= 0.5 === v1[i]! >= 0.5).length;
      close(comparison.agreement, same / events.length, 1e-9, "agreement");
      const meanDifference =
        v2.reduce((sum, s, i) => sum + Math.abs(s - v1[i]!), 0) / events.length;
      close(comparison.meanAbsDifference, meanDifference, 1e-6, "mean |score difference|");
      close(comparison.psi, psiInDeciles(v1, v2), 1e-3, "PSI");
      const ks = exactKs(v2, v1);
      assert.ok(
        comparison.ks <= ks + 1e-6 && ks <= comparison.ks + comparison.ksBound + 1e-6,
        `KS: exact ${ks}, report ${comparison.ks} (+ ${comparison.ksBound})`,
      );

      // Nothing live changed, and the backtest's own state is gone.
      assert.deepEqual(await h.snapshot(`${h.keyPrefix}*`), before.state, "live feature state");
      assert.deepEqual(
        await h.kafka.admin.committedOffsets(settings.groupId, topics.in),
        before.committed,
        "the pipeline's committed offsets",
      );
      assert.deepEqual(
        await Promise.all([topics.out, topics.dlq, topics.review].map((t) => h.written(t))),
        before.written,
        "records in the output, dead-letter and review topics",
      );
      assert.ok(report.stateKeysDeleted > 0, "the backtest kept state of its own");
      assert.ok(report.stateKeyPrefix.startsWith(`${h.keyPrefix}backtest:`));
      assert.deepEqual(await h.redis.keys(`${report.stateKeyPrefix}*`), []);
    },
  );

  test(
    "an offset range, the text report, and the exit statuses of bad flags and an unknown version",
    { timeout: 2 * 60_000 },
    async () => {
      const { topics, settings } = await h.setup(3);
      const { events, homes } = fraudStream(5, 30, 10, `${h.run}-range`);
      await h.loadHomes(homes);
      await h.kafka.produce(topics.in, eventMessages(events));
      const file = await h.writeConfig(await fraudDocument(settings));
      const ends = await h.kafka.admin.topicEnds(topics.in);
      const expected = ends.reduce((n, { high }) => n + Math.max(0, Math.min(high, 7) - 2), 0);

      const ranged = h.cli([
        "backtest",
        "--config",
        file,
        "--version",
        "canary",
        "--from",
        "2",
        "--to",
        "7",
      ]);
      assert.equal((await ranged.exited).code, 0, ranged.lines.join("\n"));
      const text = ranged.stdout();
      assert.match(text, new RegExp(`read ${expected} records in `));
      assert.match(text, new RegExp(`: ${expected} scored, 0 dead-lettered`));
      assert.match(text, /canary \(2\) candidate/);
      assert.match(text, /offset 2 → offset 7/);

      // By time: records stamped an hour apart, the range between them (Kafka's ListOffsets by
      // timestamp finds each partition's first record at or after each end).
      const timed = await h.setup(2);
      const t0 = Date.parse("2024-03-07T12:00:00Z");
      const stamped = (slice: typeof events, timestamp: number) =>
        eventMessages(slice).map((message) => ({ ...message, timestamp }));
      await h.kafka.produce(timed.topics.in, [
        ...stamped(events.slice(0, 100), t0),
        ...stamped(events.slice(100, 220), t0 + 3_600_000),
        ...stamped(events.slice(220), t0 + 7_200_000),
      ]);
      const timedFile = await h.writeConfig(await fraudDocument(timed.settings));
      const range = [
        "--version",
        "1",
        "--from",
        "2024-03-07T12:30:00Z",
        "--to",
        "2024-03-07T14:00:00Z",
      ];
      const { report: timedReport } = await backtestReport(timedFile, range);
      assert.equal(timedReport.read, 120, "the events stamped 13:00 only");
      assert.equal(timedReport.from, "2024-03-07T12:30:00.000Z");

      // With a warm-up reaching back to the first hour, the windows of the 13:00 events hold
      // what came before them: their scores are those of the whole stream's features.
      const { report: warmedReport } = await backtestReport(timedFile, [
        ...range,
        "--warm-up",
        "2h",
      ]);
      assert.equal(warmedReport.read, 120);
      assert.equal(warmedReport.warmUp?.records, 100);
      const direct = (
        await h.expectedProbabilities(referenceRows(events.slice(0, 220), homes), "1")
      )
        .slice(100)
        .map((p) => p[1]!);
      const directMean = direct.reduce((a, b) => a + b, 0) / direct.length;
      close(warmedReport.versions[0]!.scores.mean, directMean, 1e-6, "warmed-up mean score");
      // Without it, the windows start empty at 13:00: other features, other scores.
      const cold = (
        await h.expectedProbabilities(referenceRows(events.slice(100, 220), homes), "1")
      ).map((p) => p[1]!);
      const coldMean = cold.reduce((a, b) => a + b, 0) / cold.length;
      close(timedReport.versions[0]!.scores.mean, coldMean, 1e-6, "cold mean score");
      assert.ok(
        Math.abs(directMean - coldMean) > 1e-4,
        `the warm-up changes the scores: ${directMean} vs ${coldMean}`,
      );

      const badFlag = h.cli(["backtest", "--config", file, "--version", "2", "--from", "soon"]);
      assert.equal((await badFlag.exited).code, 2);
      assert.match(badFlag.lines.join("\n"), /expected an offset .* got "soon"/);

      // Features the model's input does not fit: the file's fault, exit 2, as for consume.
      const narrow = await fraudDocument(settings);
      const features = narrow.pipeline["features"] as { vector: unknown[] };
      features.vector = features.vector.slice(0, 2);
      const narrowFile = await h.writeConfig(narrow);
      const misfit = h.cli(["backtest", "--config", narrowFile, "--version", "2"]);
      assert.equal((await misfit.exited).code, 2, misfit.lines.join("\n"));
      assert.match(
        misfit.lines.join("\n"),
        /expects FP32 \[-1, 20\], the features give FP32 \[-1, 2\]/,
      );

      const unknown = h.cli(["backtest", "--config", file, "--version", "9"]);
      assert.equal((await unknown.exited).code, 1, unknown.lines.join("\n"));
      assert.match(unknown.lines.join("\n"), /version 9/);
      assert.deepEqual(await h.redis.keys(`${h.keyPrefix}backtest:*`), []);
    },
  );
  test(
    "Ctrl-C stops the replay, prints the report so far, deletes its state and exits 1",
    { timeout: 2 * 60_000 },
    async () => {
      const { topics, settings } = await h.setup(3);
      const { events } = fraudStream(3, 300, 200, `${h.run}-int`);
      const messages = eventMessages(events);
      // In requests of a size the broker takes.
      for (let i = 0; i < messages.length; i += 5_000) {
        await h.kafka.produce(topics.in, messages.slice(i, i + 5_000));
      }
      const file = await h.writeConfig(await fraudDocument(settings));
      const cli = h.cli(["backtest", "--config", file, "--version", "2", "--against", "1"]);
      // Its state keys show that the replay has begun.
      await waitFor(
        "the backtest's feature state",
        async () =>
          (await h.redis.keys(`${h.keyPrefix}backtest:*`)).length > 0 ? true : undefined,
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      cli.child.kill("SIGINT");
      const { code } = await cli.exited;
      assert.equal(code, 1, cli.lines.join("\n"));
      const read = Number(/read (\d+) records/.exec(cli.stdout())?.[1]);
      assert.ok(read > 0 && read < events.length, `read ${read} of ${events.length}`);
      assert.match(cli.stdout(), /\(interrupted before the end of the range\)/);
      assert.match(
        cli.lines.join("\n"),
        /error: backtest: interrupted before the end of the range/,
      );
      assert.deepEqual(await h.redis.keys(`${h.keyPrefix}backtest:*`), []);
    },
  );
});
