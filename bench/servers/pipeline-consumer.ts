/**
 * Child process of the pipeline benchmark: one consumer variant (see bench/pipeline/), given its
 * settings as one JSON argument. Prints `benchReady` once it consumes; stops gracefully (the batch
 * in hand committed, the group left) on SIGTERM or when the benchmark goes away. With
 * SLUICE_BENCH_CPU_PROFILE=<file> it writes a CPU profile of its main thread, from ready to stop.
 *
 *   node --conditions=source --import tsx bench/servers/pipeline-consumer.ts '<VariantSettings JSON>'
 */
import {
  Pipeline,
  RedisFeatureStore,
  SidecarInference,
  featureStoreOptions,
} from "@sluice/consumer";
import { createLogger } from "@sluice/kit";
import { announceReady, exitWithParent } from "../lib/child.js";
import { profileMainThread } from "../lib/main-thread-profile.js";
import { fraudConfig } from "../pipeline/fraud-config.js";
import { startNaiveConsumer } from "../pipeline/naive-consumer.js";
import { benchKafkaClient, startPassthrough } from "../pipeline/passthrough.js";
import {
  StageTimes,
  reportStagesOnSignal,
  timedInference,
  timedKafka,
  timedStore,
} from "../pipeline/stage-times.js";
import type { VariantSettings } from "../pipeline/variant-settings.js";

const argument = process.argv[2];
if (argument === undefined) throw new Error("usage: pipeline-consumer.ts <settings JSON>");
const settings = JSON.parse(argument) as VariantSettings;
const times = new StageTimes();
reportStagesOnSignal(times);

/**
 * What `startPipeline` does, with each port timed: the same Kafka (the run's client), sidecar and
 * Redis adapters and the same Pipeline.
 */
async function startSluice(): Promise<() => Promise<void>> {
  const config = await fraudConfig(settings);
  // Warnings (retries, Kafka client trouble) reach the benchmark's --verbose output.
  const log = createLogger({ name: "sluice-consumer", level: "warn" });
  const kafka = benchKafkaClient(config, log);
  const inference = new SidecarInference(config.model.sidecar);
  const store = await RedisFeatureStore.connect(config.redis.url, featureStoreOptions(config));
  const pipeline = await Pipeline.start(config, {
    kafka: timedKafka(kafka, times),
    inference: timedInference(inference, times),
    store: timedStore(store, times),
    log,
    release: async () => {
      inference.close();
      await store.close();
    },
  });
  return () => pipeline.stop();
}

async function start(): Promise<() => Promise<void>> {
  switch (settings.variant) {
    case "passthrough":
      return startPassthrough(settings, times);
    case "naive":
      return startNaiveConsumer(settings, times);
    case "sluice":
      return startSluice();
    case "article":
      throw new Error("the article variant runs bench/article/article_consumer.py, not this child");
  }
}

const stopConsumer = await start();
const stopProfile = await profileMainThread();
exitWithParent(async () => {
  await stopProfile();
  await stopConsumer();
});
announceReady({});
