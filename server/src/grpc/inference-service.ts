/**
 * The handlers of `inference.GRPCInferenceService`. They translate between protobuf messages and
 * the model manager; they know nothing of ONNX, and the models know nothing of gRPC. ModelInfer
 * itself is model-infer.ts; who may load and unload is admin-auth.ts.
 */
import { create } from "@bufbuild/protobuf";
import {
  InferenceError,
  ModelConfigResponseSchema,
  ModelReadyResponseSchema,
  ModelStatisticsResponseSchema,
  ModelStreamInferResponseSchema,
  RepositoryIndexResponseSchema,
  RepositoryModelLoadResponseSchema,
  RepositoryModelUnloadResponseSchema,
  ServerLiveResponseSchema,
  ServerReadyResponseSchema,
  type GRPCInferenceService,
  type GrpcServiceImplementation,
  type ModelInferRequest,
  type ModelInferResponse,
} from "@sluice/proto";
import type { ModelManager } from "../models/model-manager.js";
import type { ServedVersion } from "../models/served-version.js";
import { adminCheck, type AdminAuthOptions } from "./admin-auth.js";
import { modelMetadataMessage, serverMetadataMessage } from "./metadata-message.js";
import { modelConfigMessage } from "./model-config-message.js";
import { modelInfer, type ModelInferOptions } from "./model-infer.js";
import { statisticsMessage } from "./statistics-message.js";
import { toInferenceError } from "./status-mapping.js";
import { callDeadline, reply } from "./unary-reply.js";

type ServiceShape = typeof GRPCInferenceService extends { method: infer M } ? M : never;
export type InferenceServiceImplementation = GrpcServiceImplementation<ServiceShape>;

export interface InferenceServiceOptions extends ModelInferOptions, AdminAuthOptions {
  readonly serverName: string;
  readonly serverVersion: string;
  /** False while starting and once shutdown began. */
  isReady(): boolean;
}

/** The abort reason of a cancelled call: a plain value, so no exception is built per cancel. */
const CANCELLED_BY_CLIENT = "the client cancelled the call or its deadline passed";

/** Every version of `model` served now. */
function versionsOf(manager: ModelManager, model: string): readonly ServedVersion[] {
  return manager.servedModels().find((m) => m.name === model)?.versions ?? [];
}

export function inferenceService(options: InferenceServiceOptions): InferenceServiceImplementation {
  const { manager } = options;
  const checkAdmin = adminCheck(options);
  const infer = modelInfer(options);

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
      callback(null, serverMetadataMessage(options.serverName, options.serverVersion)),

    modelMetadata: (call, callback) =>
      reply(callback, () => {
        const served = manager.resolve(call.request.name, call.request.version);
        return modelMetadataMessage(served, versionsOf(manager, served.model));
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
        () => infer(call.request, call.metadata, callDeadline(call), controller.signal),
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
        let versions: readonly ServedVersion[];
        if (name === "") {
          versions = manager.servedModels().flatMap((m) => m.versions);
        } else if (version === "") {
          manager.resolve(name, "");
          versions = versionsOf(manager, name);
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
