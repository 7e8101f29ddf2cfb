/**
 * What the drift monitor and the online evaluator report, made by hand for tests of what renders
 * them (the consumer's metrics, the status page): a judged drift report over named subjects, and
 * evaluation figures whose unset measures are NaN (not defined yet, so they have no series).
 */
import type {
  BinnedDistance,
  DriftReport,
  DriftState,
  EvaluationFigures,
  SubjectDrift,
} from "@sluice/consumer";

const WINDOW = { describe: "the last 1,000 events" } as DriftReport["window"];

/** A subject's drift; `score` is the score's, which may carry its KS and Wasserstein distances. */
export function driftSubject(
  name: string,
  psi: number,
  state: DriftState,
  distances: { ks?: BinnedDistance; wasserstein?: BinnedDistance } = {},
): SubjectDrift {
  return {
    subject: name,
    kind: name === "score" ? "score" : "feature",
    psi,
    state,
    missing: 0,
    ...distances,
  };
}

/** A judged report at `at` of `features` and the score. */
export function driftReport(
  features: readonly SubjectDrift[],
  score: SubjectDrift | undefined,
  at = Date.now(),
): DriftReport {
  return { at, window: WINDOW, judged: true, warmupRemaining: 0, features, score, changes: [] };
}

/** One version and arm's figures: the measures given, NaN for the others. */
export function evaluationFigures(
  figures: Pick<EvaluationFigures, "version" | "arm" | "labels"> &
    Partial<Pick<EvaluationFigures, "precision" | "recall" | "rocAuc" | "logLoss" | "brier">>,
): EvaluationFigures {
  return {
    precision: NaN,
    recall: NaN,
    rocAuc: NaN,
    logLoss: NaN,
    brier: NaN,
    ...figures,
    window: WINDOW,
  } as EvaluationFigures;
}
