/** The offline backtest: the input topic's history through the pipeline's stages, on the ports. */
export {
  DEFAULT_BACKTEST_ATTEMPTS,
  runBacktest,
  type BacktestDependencies,
  type BacktestProgress,
  type BacktestReport,
  type BacktestSettings,
  type LabelsRead,
} from "./backtest.js";
export {
  describeBound,
  parseRangeBound,
  resolveRanges,
  type RangeBound,
} from "./backtest-range.js";
export {
  BacktestTally,
  summarize,
  type DeadLetterCount,
  type ScoreSummary,
  type TallyReport,
  type VersionComparison,
  type VersionEvaluation,
  type VersionReport,
  type VersionRole,
  type VersionScore,
} from "./backtest-tally.js";
