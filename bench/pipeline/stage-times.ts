/**
 * Where a consumer child's time goes, per stage: how many calls, how many items (events, rows,
 * records) and how long they took, wall clock. The Sluice variant gets them by wrapping the ports
 * the Pipeline is built on (feature store, inference, producer, consumer) — the same adapters
 * `startPipeline` makes, only timed. The child prints them and starts over on SIGUSR2, so the
 * benchmark can take them around a measured window.
 *
 * Also the child's event-loop delay (perf_hooks): how long ready work waited for the loop.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type {
  FeatureStore,
  Inference,
  KafkaClient,
  KafkaProducer,
  KafkaConsumer,
} from "@sluice/consumer";

export interface StageFigures {
  readonly calls: number;
  readonly items: number;
  /** Mean wall time per call. */
  readonly meanMs: number;
  readonly maxMs: number;
}

export interface StageReport {
  readonly seconds: number;
  readonly stages: Readonly<Record<string, StageFigures>>;
  /** null from a child without an event loop (the article's Python). */
  readonly loopDelayP99Ms: number | null;
  readonly loopDelayMaxMs: number | null;
}

/** Event-loop delay resolution: 1 ms is enough to see a loop starved for tens of milliseconds. */
const LOOP_RESOLUTION_MS = 1;

export class StageTimes {
  readonly #stages = new Map<string, { calls: number; items: number; ms: number; max: number }>();
  readonly #loop: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({
    resolution: LOOP_RESOLUTION_MS,
  });
  #since = performance.now();

  constructor() {
    this.#loop.enable();
  }

  /** Times `work` as one call of `stage` handling `items` items. */
  async time<T>(stage: string, items: number, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      const ms = performance.now() - start;
      let figures = this.#stages.get(stage);
      if (figures === undefined) {
        figures = { calls: 0, items: 0, ms: 0, max: 0 };
        this.#stages.set(stage, figures);
      }
      figures.calls++;
      figures.items += items;
      figures.ms += ms;
      figures.max = Math.max(figures.max, ms);
    }
  }

  /** The figures since the last call (or the start), then starts over. */
  take(): StageReport {
    const now = performance.now();
    const report: StageReport = {
      seconds: (now - this.#since) / 1000,
      stages: Object.fromEntries(
        [...this.#stages].map(([name, f]) => [
          name,
          { calls: f.calls, items: f.items, meanMs: f.ms / f.calls, maxMs: f.max },
        ]),
      ),
      loopDelayP99Ms: this.#loop.percentile(99) / 1e6,
      loopDelayMaxMs: this.#loop.max / 1e6,
    };
    this.#stages.clear();
    this.#loop.reset();
    this.#since = now;
    return report;
  }
}

/** Prints `{"benchStages": ...}` on stdout on each SIGUSR2 (the benchmark's window edges). */
export function reportStagesOnSignal(times: StageTimes): void {
  process.on("SIGUSR2", () => {
    process.stdout.write(`${JSON.stringify({ benchStages: times.take() })}\n`);
  });
}

export function timedStore(store: FeatureStore, times: StageTimes): FeatureStore {
  return {
    apply: (request) => times.time("redis", request.events.length, () => store.apply(request)),
    assigned: (partitions) => store.assigned?.(partitions),
    close: () => store.close(),
  };
}

export function timedInference(port: Inference, times: StageTimes): Inference {
  return {
    describe: (model, version) => port.describe(model, version),
    infer: (request) => times.time("infer", request.count, () => port.infer(request)),
    close: () => port.close(),
  };
}

export function timedKafka(kafka: KafkaClient, times: StageTimes): KafkaClient {
  // A transactional producer is made for the adapter's own consumer, not for its timed wrapper.
  const unwrapped = new WeakMap<KafkaConsumer, KafkaConsumer>();
  return {
    consumer: (settings) => {
      const consumer = kafka.consumer(settings);
      const timed = timedConsumer(consumer, times);
      unwrapped.set(timed, consumer);
      return timed;
    },
    producer: (options) => timedProducer(kafka.producer(options), times),
    transactionalProducer: (consumer) =>
      kafka.transactionalProducer(unwrapped.get(consumer) ?? consumer),
    ensureTopics: (topics) => kafka.ensureTopics(topics),
  };
}

function timedProducer(producer: KafkaProducer, times: StageTimes): KafkaProducer {
  return {
    connect: () => producer.connect(),
    send: (records) => times.time("produce", records.length, () => producer.send(records)),
    disconnect: () => producer.disconnect(),
  };
}

function timedConsumer(consumer: KafkaConsumer, times: StageTimes): KafkaConsumer {
  return {
    connect: () => consumer.connect(),
    subscribe: (topic) => consumer.subscribe(topic),
    run: (options) =>
      consumer.run({
        ...options,
        eachBatch: (batch) =>
          times.time("eachBatch", batch.records.length, () => options.eachBatch(batch)),
      }),
    commit: (offsets) => times.time("commit", offsets.length, () => consumer.commit(offsets)),
    resume: (topic, partition) => consumer.resume(topic, partition),
    onAssignment: (listener) => consumer.onAssignment(listener),
    onCrash: (listener) => consumer.onCrash(listener),
    disconnect: () => consumer.disconnect(),
  };
}
