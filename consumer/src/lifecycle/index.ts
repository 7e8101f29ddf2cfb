/**
 * The model lifecycle on the stream, as pure modules the pipeline calls per micro-batch (see
 * README.md beside this file): rollout routing and guard rails, drift against reference
 * distributions, online evaluation with late labels joined in Redis, and the retraining trigger.
 */
export { BUCKETS, entityBucket, murmur3, saltSeed } from "./entity-bucket.js";
export { SlicedWindow, DEFAULT_SLICES, describeWindow } from "./sliced-window.js";
export type { WindowExtent, WindowSpec } from "./sliced-window.js";
export {
  DEFAULT_PSI_EPSILON,
  binIndex,
  ksFromBins,
  populationStabilityIndex,
  wassersteinFromBins,
} from "./distribution-distance.js";
export type { BinnedDistance } from "./distribution-distance.js";
export {
  DEFAULT_ROLLOUT_PATH,
  DEFAULT_SHADOW_DEADLINE_MS,
  parseRolloutConfig,
} from "./rollout-config.js";
export type { RolloutArmConfig, RolloutConfig, ShadowConfig } from "./rollout-config.js";
export { RolloutRouter, movedShare, segmentOf } from "./rollout-router.js";
export type { RouteGroup, RoutePlan } from "./rollout-router.js";
export {
  DEFAULT_GUARD_MIN_EVENTS,
  DEFAULT_GUARD_SCORE_EDGES,
  DEFAULT_GUARD_WINDOW,
  DEFAULT_GUARD_Z,
  GUARD_RAIL_CHECKS,
  GuardRails,
  judgeCanary,
} from "./guard-rails.js";
export type {
  ArmFigures,
  ArmObservation,
  Breach,
  GuardRailCheck,
  GuardRailLimits,
  GuardRailVerdict,
  GuardRailsConfig,
  GuardRailsOptions,
} from "./guard-rails.js";
export { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from "./latency-buckets.js";
export {
  DEFAULT_FEATURE_BINS,
  DEFAULT_SCORE_BINS,
  DEFAULT_SCORE_CDF_BINS,
  REFERENCE_FILE_NAME,
  REFERENCE_FORMAT,
  binnedFromSamples,
  loadReference,
  parseReference,
  referenceFromSamples,
  referencePath,
} from "./reference-distribution.js";
export type {
  BinnedDistribution,
  FeatureReference,
  ReferenceDistributions,
  SampleReferenceOptions,
  ScoreReference,
} from "./reference-distribution.js";
export {
  DEFAULT_DRIFT_HYSTERESIS,
  DEFAULT_DRIFT_MIN_EVENTS,
  DEFAULT_DRIFT_WINDOW,
  DEFAULT_PSI_BANDS,
  DRIFT_STATES,
  DriftMonitor,
  nextDriftState,
} from "./drift-monitor.js";
export type {
  DriftChange,
  DriftMonitorOptions,
  DriftReport,
  DriftState,
  SubjectDrift,
} from "./drift-monitor.js";
export {
  DEFAULT_AUC_BINS,
  DEFAULT_CALIBRATION_BINS,
  DEFAULT_EVALUATION_WINDOW,
  DEFAULT_THRESHOLD,
  OnlineEvaluator,
} from "./online-evaluator.js";
export type {
  CalibrationBin,
  EvaluationFigures,
  LabelledPrediction,
  OnlineEvaluatorOptions,
} from "./online-evaluator.js";
export { decodeLabel } from "./label-join.js";
export type { LabelFields } from "./label-join.js";
export {
  ANY_FEATURE,
  DEFAULT_RETRAINING_COOLDOWN_MS,
  DEFAULT_RETRAINING_MIN_LABELS,
  RETRAINING_METRICS,
  RetrainingTrigger,
  describeCondition,
  parseRetrainingConfig,
} from "./retraining-trigger.js";
export type {
  RetrainingCondition,
  RetrainingConfig,
  RetrainingEvent,
  RetrainingEvidence,
  RetrainingInputs,
  RetrainingMetric,
  RetrainingTriggerOptions,
} from "./retraining-trigger.js";
export { parseMonitoringConfig } from "./monitoring-config.js";
export type {
  DriftSectionConfig,
  EvaluationSectionConfig,
  LabelsSectionConfig,
  MonitoringConfig,
} from "./monitoring-config.js";
