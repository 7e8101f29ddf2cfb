/**
 * Where a running pipeline's rollout weights are changed without a restart (`sluice rollout`):
 * one small text value per pipeline that every consumer of it polls, and that a writer replaces
 * only if nobody replaced it since it read it (so a ramp stops when a rollback came between its
 * steps). `adapters/redis-rollout-overrides.ts` keeps it in the pipeline's Redis.
 */
export interface RolloutOverrides {
  /** The value now, or null when there is none (the pipeline file's weights apply). */
  read(): Promise<string | null>;
  /**
   * Replaces the value if its generation is still `expected` (null: there is none yet); resolves
   * false, writing nothing, when another writer came first.
   */
  replace(expected: number | null, value: string, generation: number): Promise<boolean>;
  /** Removes the value: back to the file's weights. */
  clear(): Promise<void>;
  close(): Promise<void>;
}
