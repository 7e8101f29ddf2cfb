/**
 * Assembles the sidecar: model repository → model manager → gRPC services (inference, health,
 * reflection) and the metrics endpoint; and takes it down again without failing a request.
 */
import { createRequire } from "node:module";
import {
  createLogger,
  errorMessage,
  serveMetrics,
  type Logger,
  type MetricsServer,
} from "@sluice/kit";
import { bindGrpcServer, createGrpcServer, shutDownGrpcServer } from "./grpc/grpc-server.js";
import { inferenceService } from "./grpc/inference-service.js";
import { loadStartupModels, startPolling, type Poller } from "./models/model-control.js";
import { ModelManager } from "./models/model-manager.js";
import { SidecarMetrics } from "./observability/metrics.js";
import { TelemetryObserver } from "./observability/telemetry-observer.js";
import {
  resolveSidecarOptions,
  type ResolvedSidecarOptions,
  type SidecarOptions,
} from "./options.js";
import { ModelRepository } from "./repository/model-repository.js";
import type { ModelRuntime } from "./runtime/model-runtime.js";
import { OnnxRuntime, ortLogSeverity } from "./runtime/onnx-runtime.js";

const { version: SERVER_VERSION } = createRequire(import.meta.url)("../package.json") as {
  version: string;
};
const SERVER_NAME = "sluice";

export interface Sidecar {
  readonly options: ResolvedSidecarOptions;
  /** The bound gRPC port (useful with port 0). */
  readonly grpcPort: number;
  /** The bound metrics port, or -1 when metrics are off. */
  readonly metricsPort: number;
  readonly manager: ModelManager;
  readonly metrics: SidecarMetrics;
  /**
   * Graceful shutdown: readiness goes false, new requests are refused, queued and running requests
   * finish, models are released, then the servers close.
   */
  close(): Promise<void>;
}

export interface SidecarDependencies {
  /** @default ONNX Runtime in worker threads */
  readonly runtime?: ModelRuntime;
  /** @default kit's JSON lines on stderr, named "sluice-server", at `logLevel` */
  readonly logger?: Logger;
}

/** The repository, once its folder is known to be readable. */
async function openRepository(root: string): Promise<ModelRepository> {
  const repository = new ModelRepository(root);
  await repository.listModels().catch((error: unknown) => {
    throw new Error(`model repository ${root}: ${errorMessage(error)}`, { cause: error });
  });
  return repository;
}

/** Starts a sidecar; resolves once the gRPC server listens and the initial models are loaded. */
export async function startSidecar(
  input: SidecarOptions,
  dependencies: SidecarDependencies = {},
): Promise<Sidecar> {
  const options = resolveSidecarOptions(input);
  const logger =
    dependencies.logger ?? createLogger({ name: "sluice-server", level: options.logLevel });
  const repository = await openRepository(options.modelRepository);

  // The gauges read `manager` at scrape time, after it exists.
  const metrics = new SidecarMetrics(() =>
    manager.servedModels().flatMap((model) =>
      model.versions.map((v) => ({
        model: model.name,
        version: String(v.version),
        pending: v.pendingRequests,
        running: v.runningBatches,
      })),
    ),
  );
  const observer = new TelemetryObserver(metrics);
  const manager: ModelManager = new ModelManager({
    repository,
    runtime:
      dependencies.runtime ??
      new OnnxRuntime({ logSeverityLevel: ortLogSeverity(options.logLevel) }),
    logger,
    observer,
  });

  let ready = false;
  let draining = false;
  const grpc = createGrpcServer(
    inferenceService({
      manager,
      observer,
      controlMode: options.modelControlMode,
      adminToken: options.adminToken,
      // Every element takes at least one byte on the wire, so this bounds what decoding can allocate.
      maxElementsPerInput: options.maxMessageBytes,
      serverName: SERVER_NAME,
      serverVersion: SERVER_VERSION,
      isReady: () => ready && !draining,
      isDraining: () => draining,
    }),
    options.maxMessageBytes,
  );
  const grpcPort = await bindGrpcServer(grpc.server, options.host, options.grpcPort, options.tls);

  let metricsServer: MetricsServer | undefined;
  let poller: Poller | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      grpc.setServing(false);
      await poller?.stop();
      // Queued and running requests finish before the models go; their responses are still sent.
      await manager.close();
      await shutDownGrpcServer(grpc.server);
      await metricsServer?.close();
      logger.info({}, "sidecar stopped");
    })();
    return closing;
  };

  try {
    if (options.metricsPort >= 0) {
      metricsServer = await serveMetrics(metrics.registry, options.host, options.metricsPort);
    }
    await loadStartupModels(
      manager,
      repository,
      options.modelControlMode,
      options.loadModels,
      logger,
    );
    if (options.modelControlMode === "poll") {
      poller = startPolling(manager, options.repositoryPollSecs, logger);
    }
  } catch (error) {
    await close();
    throw error;
  }

  ready = true;
  grpc.setServing(true);
  const metricsPort = metricsServer?.port ?? -1;
  logger.info(
    {
      grpcPort,
      metricsPort,
      mode: options.modelControlMode,
      models: manager.servedModels().map((m) => m.name),
    },
    "sidecar ready",
  );
  return { options, grpcPort, metricsPort, manager, metrics, close };
}
