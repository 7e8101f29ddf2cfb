/**
 * Where a backtest meets the real world: `backtestPipeline` runs `runBacktest` (backtest/) on the
 * adapters: the input topic's history through @platformatic/kafka (manual assignment, whichever
 * client the pipeline's consumers use: the records are the same), the sidecar over gRPC, and a
 * Redis feature store under a key prefix of the backtest's own, whose keys it deletes at the end.
 */
import { randomUUID } from "node:crypto";
import { silentLogger } from "@sluice/kit";
import { PlatformaticTopicHistory } from "./adapters/platformatic-topic-history.js";
import { RedisFeatureStore } from "./adapters/redis-feature-store.js";
import { SidecarInference } from "./adapters/sidecar-inference.js";
import { runBacktest, type BacktestReport, type BacktestSettings } from "./backtest/backtest.js";
import { loadKafkaSecurity } from "./config/kafka-security.js";
import type { PipelineConfig } from "./config/pipeline-config.js";

export interface BacktestRun extends BacktestReport {
  /** Where its feature state was kept: `<redis.key_prefix>backtest:<run id>:`. */
  readonly stateKeyPrefix: string;
  /** Its state keys deleted at the end. */
  readonly stateKeysDeleted: number;
}

/** The key prefix of a backtest's feature state: under the pipeline's, never the pipeline's own. */
export function backtestKeyPrefix(config: PipelineConfig, run: string): string {
  return `${config.redis.keyPrefix}backtest:${run}:`;
}

/**
 * Backtests `config`'s pipeline with the real clients, then deletes its feature state and closes
 * every client, also when it fails.
 */
export async function backtestPipeline(
  config: PipelineConfig,
  settings: BacktestSettings,
): Promise<BacktestRun> {
  const log = settings.log ?? silentLogger;
  const run = randomUUID();
  const security = await loadKafkaSecurity(config.kafka.security);
  const history = new PlatformaticTopicHistory({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-backtest`,
    security,
  });
  const inference = new SidecarInference(config.model.sidecar);
  const stateKeyPrefix = backtestKeyPrefix(config, run);
  let store: RedisFeatureStore | undefined;
  try {
    store = await RedisFeatureStore.connect(config.redis.url, {
      keyPrefix: stateKeyPrefix,
      namespace: `backtest\n${config.topics.input}`,
      maxCachedEntities: config.redis.maxCachedEntities,
      retentionSlackMs: config.redis.retentionSlackMs,
    });
    const report = await runBacktest(config, { history, inference, store }, settings);
    const stateKeysDeleted = await store.deleteState();
    return { ...report, stateKeyPrefix, stateKeysDeleted };
  } catch (error) {
    // The state goes also when the backtest fails; if Redis is what failed, its keys expire.
    await store?.deleteState().catch((failure: unknown) => {
      log.warn({ error: String(failure) }, `could not delete ${stateKeyPrefix}*; the keys expire`);
    });
    throw error;
  } finally {
    inference.close();
    await store?.close();
    await history.close();
  }
}
