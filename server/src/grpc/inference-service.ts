/**
 * The handlers of `inference.GRPCInferenceService`. They translate between protobuf messages and the
 * model manager; they know nothing of ONNX, and the models know nothing of gRPC.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { status, type Metadata, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import type { GRPCInferenceService } from "@sluice/proto";
import {
  InferenceError,
  ModelConfigResponseSchema,
  ModelMetadataResponseSchema,
  ModelReadyResponseSchema,
  ModelStatisticsResponseSchema,
  ModelStreamInferResponseSchema,
  RepositoryIndexResponseSchema,
  RepositoryModelLoadResponseSchema,
  RepositoryModelUnloadResponseSchema,
  ServerLiveResponseSchema,
  ServerMetadataResponseSchema,
  ServerReadyResponseSchema,
  type GrpcServiceImplementation,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelStatistics,
} from "@sluice/proto";
import type { ModelControlMode, ModelManager } from "../models/model-manager.js";
import type { ServedVersion } from "../models/served-version.js";
import type { Duration } from "../models/version-statistics.js";
import type { ServerObserver } from "../observability/observer.js";
import { decodeInferRequest, encodeInferResponse } from "./infer-codec.js";
import { modelConfigMessage } from "./model-config-message.js";
import { failureReason, toInferenceError } from "./status-mapping.js";

type ServiceShape = typeof GRPCInferenceService extends { method: infer M } ? M : never;

export interface InferenceServiceOptions {
  readonly manager: ModelManager;
  readonly observer: ServerObserver;
  readonly controlMode: ModelControlMode;
  /** Bearer token the repository RPCs require; undefined = none required. */
  readonly adminToken: string | undefined;
  readonly maxElementsPerInput: number;
  readonly serverName: string;
  readonly serverVersion: string;
  /** False while starting and once shutdown began. */
  isReady(): boolean;
  isDraining(): boolean;
}

/** The protocol extensions served, by Triton's names. */
const EXTENSIONS = [
  "model_repository",
  "model_configuration",
  "schedule_policy",
  "statistics",
  "parameters",
  "binary_tensor_data",
];

/** The abort reason of a cancelled call: a plain value, so no exception is built per cancel. */
const CANCELLED_BY_CLIENT = "the client cancelled the call or its deadline passed";

function reply<T>(callback: sendUnaryData<T>, work: () => Promise<T> | T): void {
  Promise.resolve()
    .then(work)
    .then(
      (response) => callback(null, response),
      (error: unknown) => {
        const failure = toInferenceError(error);
        callback({ code: failure.status, details: failure.details });
      },
    );
}

function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

function durationMessage(duration: Duration) {
  return { count: BigInt(duration.count), ns: duration.ns };
}

function statisticsMessage(served: ServedVersion): Omit<ModelStatistics, "$typeName"> {
  const s = served.statistics;
  return {
    name: served.model,
    version: String(served.version),
    lastInference: BigInt(s.lastInference),
    inferenceCount: BigInt(s.inferenceCount),
    executionCount: BigInt(s.executionCount),
    inferenceStats: {
      success: durationMessage(s.success),
      fail: durationMessage(s.fail),
      queue: durationMessage(s.queue),
      computeInput: durationMessage(s.computeInput),
      computeInfer: durationMessage(s.computeInfer),
      computeOutput: durationMessage(s.computeOutput),
    },
    batchStats: [...s.batches.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([size, b]) => ({
        batchSize: BigInt(size),
        computeInput: durationMessage(b.computeInput),
        computeInfer: durationMessage(b.computeInfer),
        computeOutput: durationMessage(b.computeOutput),
      })),
    memoryUsage: [],
    responseStats: {},
  } as never;
}

export function inferenceService(
  options: InferenceServiceOptions,
): GrpcServiceImplementation<ServiceShape> {
  const { manager, observer } = options;
  const expectedToken =
    options.adminToken === undefined ? undefined : hashToken(options.adminToken);

  const checkAdmin = (metadata: Metadata, action: string) => {
    if (options.controlMode !== "explicit") {
      throw new InferenceError(
        status.FAILED_PRECONDITION,
        `${action} is off: the server runs with --model-control-mode ${options.controlMode}; start it with --model-control-mode explicit to load and unload models through the API`,
      );
    }
    if (expectedToken === undefined) return;
    const header = metadata.get("authorization")[0]?.toString() ?? "";
    const match = /^Bearer (.+)$/i.exec(header);
    if (match === null) {
      throw new InferenceError(
        status.UNAUTHENTICATED,
        `${action} needs an "authorization: Bearer <token>" header`,
      );
    }
    if (!timingSafeEqual(hashToken(match[1]!), expectedToken)) {
      throw new InferenceError(
        status.PERMISSION_DENIED,
        `${action}: the bearer token is not the admin token`,
      );
    }
  };

  /** Runs one ModelInfer: resolve, validate, queue (all in one tick), then encode. */
  const infer = async (
    request: ModelInferRequest,
    metadata: Metadata,
    deadline: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ModelInferResponse> => {
    const observed = observer.requestStarted({
      method: "ModelInfer",
      model: request.modelName,
      carrier: metadata,
    });
    const { receivedAt } = observed;
    let served: ServedVersion | undefined;
    try {
      if (options.isDraining())
        throw new InferenceError(
          status.UNAVAILABLE,
          "the server is shutting down and takes no new requests",
        );
      served = manager.resolve(request.modelName, request.modelVersion);
      const decoded = decodeInferRequest(request, served, {
        maxElementsPerInput: options.maxElementsPerInput,
      });
      const timeoutMicros =
        decoded.timeoutMicros ?? (served.config.batching.defaultTimeoutMicros || undefined);
      const timeoutDeadline =
        timeoutMicros === undefined ? undefined : receivedAt + timeoutMicros / 1000;
      const outcome = await served.submit(
        {
          inputs: decoded.inputs,
          rows: decoded.rows,
          outputNames: decoded.outputNames,
          request: observed,
        },
        {
          priority: decoded.priority,
          deadline:
            deadline === undefined
              ? timeoutDeadline
              : Math.min(deadline, timeoutDeadline ?? Infinity),
          signal,
        },
      );
      const response = encodeInferResponse(
        request,
        served,
        decoded.outputNames,
        outcome.outputs,
        decoded.rawOutput,
      );
      observer.requestSucceeded(observed, {
        model: served.model,
        version: served.version,
        queueMs: outcome.queueMs,
      });
      return response;
    } catch (error) {
      const failure = toInferenceError(error);
      served?.statistics.recordFailure(performance.now() - receivedAt);
      observer.requestFailed(observed, {
        // Only names the server knows become label values.
        model:
          served?.model ??
          (manager.isReady(request.modelName, "") ? request.modelName : "_unknown"),
        version: served ? String(served.version) : "",
        status: failure.status,
        reason: failureReason(failure.status),
        message: failure.details,
      });
      throw failure;
    }
  };

  const deadlineOf = (call: ServerUnaryCall<unknown, unknown>): number | undefined => {
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(at) ? performance.now() + (at - Date.now()) : undefined;
  };

  return {
    serverLive: (_call, callback) =>
      callback(null, create(ServerLiveResponseSchema, { live: true })),

    serverReady: (_call, callback) =>
      callback(null, create(ServerReadyResponseSchema, { ready: options.isReady() })),

    modelReady: (call, callback) =>
      reply(callback, () =>
        create(ModelReadyResponseSchema, {
          ready: !options.isDraining() && manager.isReady(call.request.name, call.request.version),
        }),
      ),

    serverMetadata: (_call, callback) =>
      callback(
        null,
        create(ServerMetadataResponseSchema, {
          name: options.serverName,
          version: options.serverVersion,
          extensions: EXTENSIONS,
        }),
      ),

    modelMetadata: (call, callback) =>
      reply(callback, () => {
        const served = manager.resolve(call.request.name, call.request.version);
        const versions =
          manager.servedModels().find((m) => m.name === served.model)?.versions ?? [];
        const tensor = (spec: { name: string; datatype: string; shape: readonly number[] }) => ({
          name: spec.name,
          datatype: spec.datatype,
          shape: spec.shape.map((dim) => BigInt(dim)),
        });
        return create(ModelMetadataResponseSchema, {
          name: served.model,
          versions: versions.map((v) => String(v.version)),
          platform: served.platform,
          inputs: served.inputs.map(tensor),
          outputs: served.outputs.map(tensor),
        });
      }),

    modelInfer: (call, callback) => {
      const controller = new AbortController();
      let answered = false;
      // grpc-js emits "cancelled" after every finished call too; aborting those cost 7% of the
      // main thread (a DOMException with a stack per request). Only a call still running aborts.
      call.once("cancelled", () => {
        if (!answered) controller.abort(CANCELLED_BY_CLIENT);
      });
      reply<ModelInferResponse>(
        (error, response) => {
          answered = true;
          callback(error, response);
        },
        () => infer(call.request, call.metadata, deadlineOf(call), controller.signal),
      );
    },

    modelStreamInfer: (call) => {
      // Responses go out in request order, each carrying its own error instead of ending the stream.
      let chain = Promise.resolve();
      call.on("data", (request: ModelInferRequest) => {
        const result = infer(request, call.metadata, undefined, undefined).then(
          (inferResponse) => create(ModelStreamInferResponseSchema, { inferResponse }),
          (error: unknown) =>
            create(ModelStreamInferResponseSchema, {
              errorMessage: toInferenceError(error).details,
            }),
        );
        chain = chain.then(async () => {
          call.write(await result);
        });
      });
      call.on("end", () => {
        void chain.then(() => call.end());
      });
    },

    modelConfig: (call, callback) =>
      reply(callback, () =>
        create(ModelConfigResponseSchema, {
          config: modelConfigMessage(manager.resolve(call.request.name, call.request.version)),
        }),
      ),

    modelStatistics: (call, callback) =>
      reply(callback, () => {
        const { name, version } = call.request;
        let versions: ServedVersion[];
        if (name === "") {
          versions = manager.servedModels().flatMap((m) => m.versions);
        } else if (version === "") {
          manager.resolve(name, "");
          versions = [...(manager.servedModels().find((m) => m.name === name)?.versions ?? [])];
        } else {
          versions = [manager.resolve(name, version)];
        }
        return create(ModelStatisticsResponseSchema, {
          modelStats: versions.map(statisticsMessage),
        });
      }),

    repositoryIndex: (call, callback) =>
      reply(callback, async () =>
        create(RepositoryIndexResponseSchema, {
          models: (await manager.index(call.request.ready)).map((entry) => ({
            name: entry.name,
            version: entry.version,
            state: entry.state,
            reason: entry.reason,
          })),
        }),
      ),

    repositoryModelLoad: (call, callback) =>
      reply(callback, async () => {
        checkAdmin(call.metadata, "RepositoryModelLoad");
        if (Object.keys(call.request.parameters).length > 0) {
          throw InferenceError.invalidArgument(
            `RepositoryModelLoad: parameters are not supported (got ${Object.keys(call.request.parameters).join(", ")}); put the config in the repository`,
          );
        }
        await manager.load(call.request.modelName);
        return create(RepositoryModelLoadResponseSchema, {});
      }),

    repositoryModelUnload: (call, callback) =>
      reply(callback, async () => {
        checkAdmin(call.metadata, "RepositoryModelUnload");
        await manager.unload(call.request.modelName);
        return create(RepositoryModelUnloadResponseSchema, {});
      }),
  };
}
