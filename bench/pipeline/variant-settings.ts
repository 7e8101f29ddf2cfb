/**
 * What the pipeline benchmark hands a consumer child (as one JSON argument): which variant to run,
 * on which Kafka client, and where everything is. The variants read the same input and write to
 * the same kind of output topic, so only what they do per event differs. `article` is a Python
 * process (bench/article/article_consumer.py) reading the same settings.
 */
import type { KafkaClientName } from "@sluice/consumer";

export const VARIANTS = ["passthrough", "sluice", "naive", "article"] as const;
export type Variant = (typeof VARIANTS)[number];
/** The variants that run on the pipeline's Kafka adapters, once per client asked for. */
export const CLIENT_VARIANTS: readonly Variant[] = ["passthrough", "sluice"];

/** A variant on a client, and how the tables name it: `sluice/platformatic`, `naive`. */
export interface VariantRun {
  readonly variant: Variant;
  readonly client: KafkaClientName;
  readonly label: string;
}

export interface VariantSettings {
  readonly variant: Variant;
  /** The pipeline's Kafka adapter (passthrough, sluice); naive is always kafkajs. */
  readonly client: KafkaClientName;
  readonly brokers: readonly string[];
  readonly redisUrl: string;
  /** `host:port` of the sidecar (unused by the passthrough and the article, whose model is in-process). */
  readonly sidecar: string;
  readonly topics: {
    readonly input: string;
    readonly output: string;
    readonly deadLetter: string;
    readonly review: string;
  };
  readonly groupId: string;
  /** Prefix of the feature store's Redis keys, so the benchmark can delete them (Sluice and naive). */
  readonly keyPrefix: string;
  /** Replaces fraud.yaml's `batch.linger_ms` (Sluice only), to measure what the linger costs. */
  readonly lingerMs?: number;
}
