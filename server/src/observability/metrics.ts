/**
 * Prometheus metrics of the sidecar, in a registry of its own (several sidecars can share a process
 * in tests), served on `--metrics-port` at `/metrics` (kit's serveMetrics). Names and labels are documented in
 * docs/metrics.md. Every series is labelled by model and version; request labels use only names the
 * server knows, so a client cannot grow the series without bound by sending made-up model names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Seconds; from 100 µs (a tiny model's batch) to 10 s (a queue under overload). */
const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
/** Rows per execution, powers of two up to the largest batch a config may sensibly ask for. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "sluice_inference_requests_total",
    help: "ModelInfer requests by outcome (success, failure) and failure reason",
    labelNames: ["model", "version", "outcome", "reason"] as const,
    registers: [this.registry],
  });
  readonly inferences = new Counter({
    name: "sluice_inference_rows_total",
    help: "Rows (inferences) computed",
    labelNames: ["model", "version"] as const,
    registers: [this.registry],
  });
  readonly executions = new Counter({
    name: "sluice_inference_executions_total",
    help: "Batches executed by the runtime",
    labelNames: ["model", "version"] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "sluice_inference_request_duration_seconds",
    help: "Time from receiving a ModelInfer request to its response being ready",
    labelNames: ["model", "version"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDuration = new Histogram({
    name: "sluice_inference_queue_duration_seconds",
    help: "Time a request waited in the dynamic batcher's queue",
    labelNames: ["model", "version"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly computeDuration = new Histogram({
    name: "sluice_inference_compute_duration_seconds",
    help: "Time the runtime spent computing one batch",
    labelNames: ["model", "version"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: "sluice_inference_batch_size",
    help: "Rows per executed batch",
    labelNames: ["model", "version"] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly pending: Gauge<"model" | "version">;
  readonly running: Gauge<"model" | "version">;
  readonly modelReady: Gauge<"model" | "version">;
  readonly loads = new Counter({
    name: "sluice_model_loads_total",
    help: "Model version loads by outcome (success, failure)",
    labelNames: ["model", "version", "outcome"] as const,
    registers: [this.registry],
  });
  readonly loadDuration = new Histogram({
    name: "sluice_model_load_duration_seconds",
    help: "Time to load and warm up a model version",
    labelNames: ["model", "version"] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });
  readonly unloads = new Counter({
    name: "sluice_model_unloads_total",
    help: "Model versions unloaded (after draining their queues)",
    labelNames: ["model", "version"] as const,
    registers: [this.registry],
  });

  /** `served` lists what is served now; gauges read it at scrape time, so they cannot drift. */
  constructor(
    served: () => { model: string; version: string; pending: number; running: number }[],
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: "sluice_process_" });
    this.pending = new Gauge({
      name: "sluice_inference_pending_requests",
      help: "Requests queued in the dynamic batcher, not yet running",
      labelNames: ["model", "version"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of served()) this.set({ model: s.model, version: s.version }, s.pending);
      },
    });
    this.running = new Gauge({
      name: "sluice_inference_running_batches",
      help: "Batches executing on the model version's instances now",
      labelNames: ["model", "version"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of served()) this.set({ model: s.model, version: s.version }, s.running);
      },
    });
    this.modelReady = new Gauge({
      name: "sluice_model_ready",
      help: "1 for each model version that is loaded and serving",
      labelNames: ["model", "version"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of served()) this.set({ model: s.model, version: s.version }, 1);
      },
    });
  }
}
