/**
 * What the pipeline benchmark hands a consumer child (as one JSON argument): which variant to run
 * and where everything is. The three variants read the same input and write to the same kind of
 * output topic, so only what they do per event differs.
 */

export const VARIANTS = ["passthrough", "sluice", "naive"] as const;
export type Variant = (typeof VARIANTS)[number];

export interface VariantSettings {
  readonly variant: Variant;
  readonly brokers: readonly string[];
  readonly redisUrl: string;
  /** `host:port` of the sidecar (unused by the passthrough). */
  readonly sidecar: string;
  readonly topics: {
    readonly input: string;
    readonly output: string;
    readonly deadLetter: string;
    readonly review: string;
  };
  readonly groupId: string;
  /** Prefix of the feature store's Redis keys, so the benchmark can delete them. */
  readonly keyPrefix: string;
  /** Replaces fraud.yaml's `batch.linger_ms` (Sluice only), to measure what the linger costs. */
  readonly lingerMs?: number;
}
