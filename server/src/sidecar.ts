/**
 * Assembles the sidecar: model repository → model manager → gRPC services (inference, health,
 * reflection) and the metrics endpoint; and takes it down again without failing a request.
 */
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import {
  GRPCInferenceService,
  fileDescriptorProtos,
  file_inference_grpc_service,
  grpcServiceDefinition,
  health,
} from "@sluice/proto";
import { HealthImplementation } from "grpc-health-check";
import { pino } from "pino";
import { inferenceService } from "./grpc/inference-service.js";
import type { Logger } from "@sluice/kit";
import { ModelManager } from "./models/model-manager.js";
import { SidecarMetrics, type MetricsServer } from "./observability/metrics.js";
import { TelemetryObserver } from "./observability/telemetry-observer.js";
import {
  resolveSidecarOptions,
  type ResolvedSidecarOptions,
  type SidecarOptions,
} from "./options.js";
import { ModelRepository } from "./repository/model-repository.js";
import { OnnxRuntime } from "./runtime/onnx-runtime.js";
import type { ModelRuntime } from "./runtime/model-runtime.js";

const { version: SERVER_VERSION } = createRequire(import.meta.url)("../package.json") as {
  version: string;
};
const SERVER_NAME = "sluice";
const INFERENCE_SERVICE = "inference.GRPCInferenceService";

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
  readonly logger?: Logger;
}

/** Starts a sidecar; resolves once the gRPC server listens and the initial models are loaded. */
export async function startSidecar(
  input: SidecarOptions,
  dependencies: SidecarDependencies = {},
): Promise<Sidecar> {
  const options = resolveSidecarOptions(input);
  const logger = dependencies.logger ?? pino({ name: "sluice-server", level: options.logLevel });
  const repository = new ModelRepository(options.modelRepository);
  await repository.listModels().catch((error: unknown) => {
    throw new Error(`model repository ${options.modelRepository}: ${(error as Error).message}`, {
      cause: error,
    });
  });

  // The gauges read `models` at scrape time, after it exists.
  const metrics = new SidecarMetrics(() =>
    models.servedModels().flatMap((model) =>
      model.versions.map((v) => ({
        model: model.name,
        version: String(v.version),
        pending: v.pendingRequests,
      })),
    ),
  );
  const observer = new TelemetryObserver(metrics);
  const models: ModelManager = new ModelManager({
    repository,
    runtime: dependencies.runtime ?? new OnnxRuntime(),
    logger,
    observer,
  });

  let ready = false;
  let draining = false;
  const healthService = new HealthImplementation({
    "": "NOT_SERVING",
    [INFERENCE_SERVICE]: "NOT_SERVING",
  });
  const setServing = (serving: boolean) => {
    const state = serving ? "SERVING" : "NOT_SERVING";
    healthService.setStatus("", state);
    healthService.setStatus(INFERENCE_SERVICE, state);
  };

  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
  });
  server.addService(
    grpcServiceDefinition(GRPCInferenceService),
    inferenceService({
      manager: models,
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
  );
  healthService.addToServer(server);
  // @grpc/reflection reads only `fileDescriptorProtos` from a package definition; handing it the
  // descriptors protoc made avoids proto-loader's re-derivation, which garbles some messages
  // (grpcurl then rejects inference.ModelConfig).
  const descriptors = fileDescriptorProtos([
    file_inference_grpc_service,
    health.file_grpc_health_v1_health,
  ]).map((bytes) => Buffer.from(bytes));
  new ReflectionService({
    sluice: { fileDescriptorProtos: descriptors },
  } as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.clientCa ?? null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        options.tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.grpcPort}`,
      credentials,
      (error, port) =>
        error
          ? reject(
              new Error(`gRPC ${options.host}:${options.grpcPort}: ${error.message}`, {
                cause: error,
              }),
            )
          : resolve(port),
    );
  });

  let metricsServer: MetricsServer | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      setServing(false);
      if (pollTimer !== undefined) clearInterval(pollTimer);
      await polling;
      // Queued and running requests finish before the models go; their responses are still sent.
      await models.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await metricsServer?.close();
      logger.info({}, "sidecar stopped");
    })();
    return closing;
  };

  try {
    if (options.metricsPort >= 0)
      metricsServer = await metrics.listen(options.host, options.metricsPort);
    if (options.modelControlMode === "explicit") {
      const names = options.loadModels.includes("*")
        ? await repository.listModels()
        : options.loadModels;
      for (const name of names) {
        await models
          .load(name)
          .catch((error: unknown) =>
            logger.error(
              { model: name, reason: (error as Error).message },
              "startup model failed to load",
            ),
          );
      }
    } else {
      await models.loadAll();
    }
    if (options.modelControlMode === "poll") {
      pollTimer = setInterval(() => {
        polling = polling.then(() =>
          models
            .poll()
            .catch((error: unknown) =>
              logger.error({ reason: (error as Error).message }, "repository poll failed"),
            ),
        );
      }, options.repositoryPollSecs * 1000);
      pollTimer.unref();
    }
  } catch (error) {
    await close();
    throw error;
  }

  ready = true;
  setServing(true);
  logger.info(
    {
      grpcPort,
      metricsPort: metricsServer?.port ?? -1,
      mode: options.modelControlMode,
      models: models.servedModels().map((m) => m.name),
    },
    "sidecar ready",
  );
  return {
    options,
    grpcPort,
    metricsPort: metricsServer?.port ?? -1,
    manager: models,
    metrics,
    close,
  };
}
