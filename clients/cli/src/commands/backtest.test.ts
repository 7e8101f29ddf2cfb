import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BacktestRun } from "@sluice/consumer";
import { helpOf, sluice } from "../test-kit.js";
import { describeBacktest } from "./backtest.js";

const CONFIG = "examples/pipelines/fraud.yaml";

describe("sluice backtest: flags", () => {
  test("a command line that cannot run exits 2, saying what was expected", async () => {
    for (const [args, message] of [
      [["--version", "2", "--from", "soon"], /--from .*expected an offset .* got "soon"/],
      [["--version", "2", "--to", "-3"], /--to .*got "-3"/],
      [["--version", "2", "--threshold", "2"], /expected a number from 0 to 1, got "2"/],
      [["--version", "two words"], /expected a version number \(e\.g\. 2\) or label/],
      [[], /required option '--version <version>' not specified/],
      [["--version", "2", "--from", "end"], /--from end: the range would be empty/],
      [
        ["--version", "2", "--warm-up", "soon"],
        /expected a duration like "24h" or "7d", got "soon"/,
      ],
      [["--version", "2", "--from", "10", "--warm-up", "1h"], /--warm-up: give --from as a time/],
    ] as const) {
      const run = await sluice("backtest", "--config", CONFIG, ...args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.err}`);
      assert.match(run.err, message);
    }
  });

  test("the help documents the exit status and examples that name the example pipeline", () => {
    const help = helpOf("backtest");
    assert.match(help, /Exit status: 0 done, 1 failed .*2 invalid pipeline file or flags/s);
    assert.match(
      help,
      /\$ sluice backtest --config examples\/pipelines\/fraud\.yaml --version 2 --against 1/,
    );
  });
});

describe("sluice backtest: the text report", () => {
  test("says what was read, dead-lettered, scored, and how the versions compare", () => {
    const summary = {
      count: 2,
      mean: 0.5,
      min: 0.1,
      p10: 0.1,
      p50: 0.1,
      p90: 0.9,
      p99: 0.9,
      max: 0.9,
      flagged: 0.5,
    };
    const run: BacktestRun = {
      pipeline: "fraud",
      model: "fraud",
      topic: "transactions",
      from: "earliest",
      to: "end",
      partitions: [{ partition: 0, from: "0", to: "3" }],
      warmUp: undefined,
      read: 3,
      predictions: 2,
      deadLetters: 1,
      deadLettersByCode: { decode_error: { count: 1, example: "record value: expected JSON" } },
      threshold: 0.5,
      versions: [
        {
          role: "candidate",
          requested: "canary",
          answered: ["2"],
          scored: 2,
          failed: 0,
          scores: summary,
          evaluation: {
            labels: 2,
            positives: 1,
            precision: 1,
            recall: 1,
            rocAuc: 1,
            rocAucBound: 0,
            logLoss: 0.1,
            brier: 0.01,
          },
        },
        {
          role: "against",
          requested: "1",
          answered: ["1"],
          scored: 2,
          failed: 0,
          scores: summary,
          evaluation: {
            labels: 2,
            positives: 1,
            precision: Number.NaN,
            recall: 0,
            rocAuc: 0.5,
            rocAucBound: 0,
            logLoss: 0.7,
            brier: 0.25,
          },
        },
      ],
      comparison: {
        compared: 2,
        agreement: 0.5,
        meanAbsDifference: 0.25,
        psi: 0.3,
        ks: 0.5,
        ksBound: 0.1,
      },
      labelled: 2,
      labels: { topic: "labels", read: 3, ids: 2, invalid: 1, invalidExample: "not a label" },
      seconds: 1.5,
      eventsPerSecond: 2,
      complete: true,
      stateKeyPrefix: "sluice:features:backtest:x:",
      stateKeysDeleted: 2,
    };
    const text = describeBacktest(run);
    assert.match(text, /read 3 records in 1\.5 s \(2 events\/s\): 2 scored, 1 dead-lettered\n/);
    assert.match(text, /decode_error: 1 \(first: record value: expected JSON\)/);
    assert.match(
      text,
      /labels: 2 ids from 3 records of labels \(1 not labels, first: not a label\); 2 scored events labelled/,
    );
    assert.match(text, /canary \(2\) candidate +2 +0 +0\.500 .* 50\.0 % +1\.000 +1\.000 +1\.000/);
    assert.match(text, /1 against .* - +0\.000 +0\.500/);
    assert.match(
      text,
      /canary against 1: 2 events scored by both; same decision at 0\.5 for 50\.0 %, mean \|score difference\| 0\.2500; score drift PSI 0\.300, KS 0\.500/,
    );
  });
});
