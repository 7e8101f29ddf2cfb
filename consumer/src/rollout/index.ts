/**
 * A pipeline's `rollout:` section at work (docs/rollouts.md): arms scored per micro-batch, the
 * shadow, guard rails and rollback, and the override `sluice rollout` writes.
 */
export { RolloutControl, DEFAULT_SEGMENT } from "./rollout-control.js";
export type { RollbackEvent, RolloutControlOptions } from "./rollout-control.js";
export { RolloutScorer } from "./rollout-scorer.js";
export { ShadowScorer } from "./shadow-scorer.js";
export type { ShadowRecord } from "./shadow-scorer.js";
export { RolloutWatcher, DEFAULT_ROLLOUT_POLL_MS } from "./rollout-watcher.js";
export {
  describeWeights,
  formatRolloutOverride,
  parseRolloutOverride,
} from "./rollout-override.js";
export type { RolloutOverride } from "./rollout-override.js";
