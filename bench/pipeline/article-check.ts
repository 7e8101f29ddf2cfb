/**
 * Checks the article variant computes what Sluice computes, before its figures are compared:
 *
 * - features: a seeded synthetic stream (the benchmark's generator, with event times spread over
 *   four and a half days so the 5-minute, 1-hour and 24-hour windows, the pruning of old events
 *   and the previous-event gap all vary) goes through the Python consumer's feature code (`article_consumer.py check`, in micro-batches as
 *   it consumes) and through the testing kit's fraud reference (testing/src/pipeline/fraud-reference.ts), the README layout written
 *   independently in TypeScript; every one of the 20 columns must agree to FP32 precision;
 * - scores: the Python rows, scored in-process by onnxruntime, are sent to the sidecar with
 *   fraud.yaml's model and version; probabilities must agree within FLOAT_TOLERANCE and labels
 *   exactly.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InferenceClient } from "@sluice/client";
import { SyntheticFraud, type FraudEvent } from "@sluice/demo";
import { FRAUD_FEATURE_NAMES, prng, referenceRows } from "@sluice/testing";
import { REPO_ROOT } from "../lib/child.js";
import { ARTICLE_SCRIPT } from "./article-python.js";
import { articleModel, writeHomes } from "./article-variant.js";

/** Events in the sample: a few seconds of Python work. */
export const CHECK_EVENTS = 5_000;
/** Few users, so each has a history of ~25 events and the windows fill up. */
const CHECK_USERS = 200;
const WIDTH = 20;
/** Two FP32 values agree when within this, relative to max(1, |value|): a couple of FP32 ulps. */
const FEATURE_TOLERANCE = 1e-6;
/** Two runtimes' probabilities for the same row: ONNX Runtime versions may differ in the last bits. */
const FLOAT_TOLERANCE = 1e-6;
/** Rows per ModelInfer call: the model's max_batch_size. */
const INFER_BATCH = 256;
const MINUTE = 60_000;

export interface ArticleCheck {
  readonly events: number;
  /** Events whose 20 features all agree with the reference's. */
  readonly featuresAgree: number;
  /** Events whose features are bit-for-bit the reference's FP32 values. */
  readonly featuresExact: number;
  /** Largest |python − reference| / max(1, |reference|) over every column. */
  readonly maxFeatureError: number;
  readonly scoresAgree: number;
  /** Largest |python − sidecar| over both probabilities. */
  readonly maxScoreError: number;
  /** The version the sidecar answered with. */
  readonly sidecarVersion: string;
  /** The first disagreements, for the message; empty when everything agrees. */
  readonly problems: readonly string[];
}

/** A stream over four and a half days of event time: a few seconds to a few minutes between events. */
function sampleStream(): { events: FraudEvent[]; homes: Map<string, string> } {
  const generator = new SyntheticFraud({ runId: "article-check", users: CHECK_USERS, seed: 7 });
  const random = prng(13);
  const events: FraudEvent[] = [];
  let now = Date.UTC(2024, 2, 7, 0, 0, 0);
  while (events.length < CHECK_EVENTS) {
    now += random() < 0.5 ? 1_000 + random() * 9_000 : random() * 5 * MINUTE;
    const record = generator.next(Math.round(now));
    if (record.kind === "event") events.push(record.event);
  }
  return { events, homes: generator.homes() };
}

interface PythonRow {
  readonly features?: number[];
  readonly label?: number;
  readonly probabilities?: number[];
  readonly error?: string;
}

/** Runs `article_consumer.py check`: JSON events in, one JSON line per event out. */
function runPython(python: string, args: readonly string[], input: string): Promise<PythonRow[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [ARTICLE_SCRIPT, "check", ...args], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) {
        reject(
          new Error(
            `article_consumer.py check: expected exit code 0, got ${code}:\n${Buffer.concat(err).toString("utf8")}`,
          ),
        );
        return;
      }
      const lines = Buffer.concat(out).toString("utf8").trimEnd().split("\n");
      resolve(lines.map((line) => JSON.parse(line) as PythonRow));
    });
    child.stdin.end(input);
  });
}

/** Runs the check against the sidecar at `sidecarAddress` (serving examples/models). */
export async function checkArticle(python: string, sidecarAddress: string): Promise<ArticleCheck> {
  const { events, homes } = sampleStream();
  const model = await articleModel();
  const dir = await mkdtemp(join(tmpdir(), "sluice-article-check-"));
  let rows: PythonRow[];
  try {
    const homesFile = await writeHomes(dir, Object.fromEntries(homes));
    rows = await runPython(
      python,
      ["--model", model.path, "--model-version", model.version, "--homes", homesFile],
      events.map((event) => JSON.stringify(event)).join("\n") + "\n",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < 5) problems.push(text);
  };
  if (rows.length !== events.length) {
    throw new Error(`article check: expected ${events.length} output lines, got ${rows.length}`);
  }

  const reference = referenceRows(events, homes);
  let featuresAgree = 0;
  let featuresExact = 0;
  let maxFeatureError = 0;
  const matrix = new Float32Array(events.length * WIDTH);
  rows.forEach((row, i) => {
    const expected = reference[i]!;
    if (row.features === undefined) {
      problem(`event ${events[i]!.id}: expected features, got the error ${row.error ?? "?"}`);
      return;
    }
    matrix.set(row.features, i * WIDTH);
    let agree = true;
    let exact = true;
    for (let c = 0; c < WIDTH; c++) {
      const got = row.features[c]!;
      const want = expected[c]!;
      const error = Math.abs(got - want) / Math.max(1, Math.abs(want));
      maxFeatureError = Math.max(maxFeatureError, error);
      if (got !== want) exact = false;
      if (!(error <= FEATURE_TOLERANCE)) {
        agree = false;
        problem(`event ${events[i]!.id}: ${FRAUD_FEATURE_NAMES[c]}: expected ${want}, got ${got}`);
      }
    }
    if (agree) featuresAgree++;
    if (exact) featuresExact++;
  });

  const client = new InferenceClient({ address: sidecarAddress });
  let scoresAgree = 0;
  let maxScoreError = 0;
  let sidecarVersion = "";
  try {
    for (let start = 0; start < events.length; start += INFER_BATCH) {
      const count = Math.min(INFER_BATCH, events.length - start);
      const result = await client.infer(
        model.name,
        [
          {
            name: "features",
            datatype: "FP32",
            shape: [count, WIDTH],
            data: matrix.subarray(start * WIDTH, (start + count) * WIDTH),
          },
        ],
        { version: model.requested },
      );
      sidecarVersion = result.modelVersion;
      const labels = result.output("label").data;
      const probabilities = result.output("probabilities").data as Float32Array;
      for (let r = 0; r < count; r++) {
        const row = rows[start + r]!;
        const label = Number(labels[r]);
        let error = 0;
        for (let k = 0; k < 2; k++) {
          error = Math.max(
            error,
            Math.abs((row.probabilities?.[k] ?? NaN) - probabilities[r * 2 + k]!),
          );
        }
        maxScoreError = Math.max(maxScoreError, error);
        if (error <= FLOAT_TOLERANCE && label === row.label) scoresAgree++;
        else {
          problem(
            `event ${events[start + r]!.id}: sidecar label ${label}, probabilities ${probabilities[r * 2]}, ${probabilities[r * 2 + 1]}; python label ${row.label}, probabilities ${row.probabilities?.join(", ")}`,
          );
        }
      }
    }
  } finally {
    client.close();
  }
  if (sidecarVersion !== model.version) {
    problem(
      `the sidecar answered with version ${sidecarVersion}, the Python consumer loads ${model.version}`,
    );
  }
  return {
    events: events.length,
    featuresAgree,
    featuresExact,
    maxFeatureError,
    scoresAgree,
    maxScoreError,
    sidecarVersion,
    problems,
  };
}

/** One line for the benchmark's output. */
export function describeCheck(check: ArticleCheck): string {
  return (
    `article check: features ${check.featuresAgree}/${check.events} events agree with the TS reference ` +
    `(${check.featuresExact} bit-exact, largest relative difference ${check.maxFeatureError.toExponential(1)}); ` +
    `scores ${check.scoresAgree}/${check.events} agree with the sidecar's (model version ${check.sidecarVersion}, ` +
    `largest difference ${check.maxScoreError.toExponential(1)})`
  );
}

/** Whether everything agreed. */
export function checkPassed(check: ArticleCheck): boolean {
  return (
    check.problems.length === 0 &&
    check.featuresAgree === check.events &&
    check.scoresAgree === check.events
  );
}
