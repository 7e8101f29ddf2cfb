import { Client, Metadata, credentials, status, type ChannelCredentials } from "@grpc/grpc-js";
import { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  InferenceError,
  GRPCInferenceService,
  ModelConfigRequestSchema,
  ModelMetadataRequestSchema,
  ModelReadyRequestSchema,
  ModelRepositoryParameterSchema,
  ModelStatisticsRequestSchema,
  RepositoryIndexRequestSchema,
  RepositoryModelLoadRequestSchema,
  RepositoryModelUnloadRequestSchema,
  ServerLiveRequestSchema,
  ServerMetadataRequestSchema,
  ServerReadyRequestSchema,
  health,
  type ModelConfig,
  type ModelRepositoryParameter,
  type ModelStatistics,
  versionLabelsOf,
} from "@sluice/proto";
import {
  type InferenceClientOptions,
  type ResolvedClientOptions,
  positiveDeadline,
  resolveClientOptions,
} from "./client-options.js";
import { type InferOptions, buildInferRequest, modelVersion } from "./infer-request.js";
import { type InferResult, toInferResult } from "./infer-result.js";
import { withRetry } from "./retry.js";
import { tlsCredentials } from "./tls-credentials.js";
import type { InferInput } from "./tensors.js";
import { type ServerAttributes, recordRetry, serverAttributes, traceCall } from "./tracing.js";
import {
  type HealthStatus,
  type ModelMetadata,
  type RepositoryModel,
  type ServerMetadata,
  toHealthStatus,
  toTensorMetadata,
} from "./responses.js";
import { type UnaryMethod, unaryCall, unaryMethods } from "./unary-call.js";

const INFERENCE = unaryMethods(GRPCInferenceService);

/** The requests that name one model version. */
type ModelRequestSchema =
  | typeof ModelReadyRequestSchema
  | typeof ModelMetadataRequestSchema
  | typeof ModelConfigRequestSchema;
const HEALTH = unaryMethods(health.Health);

/** Options every call accepts. */
export interface CallOptions {
  /** Time allowed for this call, retries included. @default the client's `deadlineMs` */
  deadlineMs?: number;
  /** Aborting cancels the call, or the wait before a retry. */
  signal?: AbortSignal;
  /** Extra metadata sent with the call. */
  metadata?: Metadata;
}

interface CallSettings extends CallOptions {
  model?: string | undefined;
  version?: string | undefined;
  /** Sends the bearer token: repository calls change or reveal what the server runs. */
  authorize?: boolean;
  defaultDeadlineMs?: number;
}

/**
 * A client of one Sluice (or any Open Inference Protocol / KServe V2 gRPC) server. Every call has a
 * deadline, is retried on UNAVAILABLE and RESOURCE_EXHAUSTED with jittered backoff, is traced as an
 * OpenTelemetry CLIENT span, and fails with an {@link InferenceError}.
 */
export class InferenceClient {
  readonly #options: ResolvedClientOptions;
  readonly #client: Client;
  readonly #server: ServerAttributes;
  #closed = false;

  constructor(options: InferenceClientOptions) {
    this.#options = resolveClientOptions(options);
    this.#client = new Client(
      this.#options.address,
      channelCredentials(this.#options),
      this.#options.channelOptions,
    );
    this.#server = serverAttributes(this.#options.address);
  }

  /**
   * Runs model `model` on `inputs`. Inputs are validated before anything is sent and go as raw
   * contents; outputs are decoded to typed arrays (views into the response where alignment allows).
   */
  async infer(
    model: string,
    inputs: readonly InferInput[],
    options: InferOptions = {},
  ): Promise<InferResult> {
    const request = buildInferRequest(model, inputs, options);
    return this.#call(
      INFERENCE.modelInfer,
      request,
      { ...options, model, version: request.modelVersion },
      toInferResult,
    );
  }

  /** Whether the server is live (able to answer at all). */
  async serverLive(options: CallOptions = {}): Promise<boolean> {
    const response = await this.#call(
      INFERENCE.serverLive,
      create(ServerLiveRequestSchema),
      options,
    );
    return response.live;
  }

  /** Whether the server is ready to serve inferences. */
  async serverReady(options: CallOptions = {}): Promise<boolean> {
    const response = await this.#call(
      INFERENCE.serverReady,
      create(ServerReadyRequestSchema),
      options,
    );
    return response.ready;
  }

  async serverMetadata(options: CallOptions = {}): Promise<ServerMetadata> {
    const { name, version, extensions } = await this.#call(
      INFERENCE.serverMetadata,
      create(ServerMetadataRequestSchema),
      options,
    );
    return { name, version, extensions };
  }

  /** Whether `model` (at `version`, or the server's default version) is ready for inference. */
  async modelReady(
    model: string,
    version?: string | number,
    options: CallOptions = {},
  ): Promise<boolean> {
    const response = await this.#modelCall(
      INFERENCE.modelReady,
      ModelReadyRequestSchema,
      model,
      version,
      options,
    );
    return response.ready;
  }

  async modelMetadata(
    model: string,
    version?: string | number,
    options: CallOptions = {},
  ): Promise<ModelMetadata> {
    const response = await this.#modelCall(
      INFERENCE.modelMetadata,
      ModelMetadataRequestSchema,
      model,
      version,
      options,
    );
    return {
      name: response.name,
      versions: response.versions,
      platform: response.platform,
      inputs: response.inputs.map(toTensorMetadata),
      outputs: response.outputs.map(toTensorMetadata),
    };
  }

  /** The model's configuration (Triton's ModelConfig extension). */
  async modelConfig(
    model: string,
    version?: string | number,
    options: CallOptions = {},
  ): Promise<ModelConfig> {
    const response = await this.#modelCall(
      INFERENCE.modelConfig,
      ModelConfigRequestSchema,
      model,
      version,
      options,
    );
    if (response.config === undefined) {
      throw new InferenceError(
        status.INTERNAL,
        `malformed response: model "${model}": ModelConfig came without a config`,
      );
    }
    return response.config;
  }

  /**
   * The model's version labels, label → version number (`{ stable: "1", canary: "2" }`), which a
   * Sluice sidecar sends in ModelConfig's parameters. Empty when the model has none or the server
   * has no ModelConfig (a KServe V2 server without Triton's extension).
   */
  async versionLabels(model: string, options: CallOptions = {}): Promise<Record<string, string>> {
    try {
      return versionLabelsOf((await this.modelConfig(model, undefined, options)).parameters);
    } catch (error) {
      if (error instanceof InferenceError && error.status === status.UNIMPLEMENTED) return {};
      throw error;
    }
  }

  /** Inference statistics of one model, or of every model when `model` is omitted (Triton's statistics extension). */
  async modelStatistics(
    model?: string,
    version?: string | number,
    options: CallOptions = {},
  ): Promise<ModelStatistics[]> {
    const request = create(ModelStatisticsRequestSchema, {
      name: model === undefined ? "" : modelName(model),
      version: modelVersion(version),
    });
    const response = await this.#call(INFERENCE.modelStatistics, request, {
      ...options,
      model,
      version: request.version,
    });
    return response.modelStats;
  }

  /** The models in the repository and their states; only ready ones with `readyOnly`. Sends the token. */
  async repositoryIndex(
    options: { readyOnly?: boolean } & CallOptions = {},
  ): Promise<RepositoryModel[]> {
    const request = create(RepositoryIndexRequestSchema, { ready: options.readyOnly ?? false });
    const response = await this.#call(INFERENCE.repositoryIndex, request, {
      ...options,
      authorize: true,
    });
    return response.models.map(({ name, version, state, reason }) => ({
      name,
      version,
      state,
      reason,
    }));
  }

  /** Loads (or reloads) `model`. Sends the token. @default deadline: the client's `loadDeadlineMs` */
  async loadModel(model: string, options: CallOptions = {}): Promise<void> {
    const request = create(RepositoryModelLoadRequestSchema, { modelName: modelName(model) });
    await this.#call(INFERENCE.repositoryModelLoad, request, {
      ...options,
      model,
      authorize: true,
      defaultDeadlineMs: this.#options.loadDeadlineMs,
    });
  }

  /** Unloads `model`; with `unloadDependents`, the models that depend on it too. Sends the token. */
  async unloadModel(
    model: string,
    options: { unloadDependents?: boolean } & CallOptions = {},
  ): Promise<void> {
    const parameters: Record<string, ModelRepositoryParameter> = {};
    if (options.unloadDependents !== undefined) {
      // Triton's name for it, so the same call works against Triton.
      parameters.unload_dependents = create(ModelRepositoryParameterSchema, {
        parameterChoice: { case: "boolParam", value: options.unloadDependents },
      });
    }
    const request = create(RepositoryModelUnloadRequestSchema, {
      modelName: modelName(model),
      parameters,
    });
    await this.#call(INFERENCE.repositoryModelUnload, request, {
      ...options,
      model,
      authorize: true,
    });
  }

  /** `grpc.health.v1.Health/Check` for `service` ("" is the server as a whole). */
  async health(service = "", options: CallOptions = {}): Promise<HealthStatus> {
    const request = create(health.HealthCheckRequestSchema, { service });
    try {
      const response = await this.#call(HEALTH.check, request, options);
      return toHealthStatus(response.status);
    } catch (error) {
      // Check answers NOT_FOUND for a service it does not know; the protocol's own word for that is SERVICE_UNKNOWN.
      if (error instanceof InferenceError && error.status === status.NOT_FOUND) {
        return "SERVICE_UNKNOWN";
      }
      throw error;
    }
  }

  /** Closes the channel. Calls made afterwards fail with FAILED_PRECONDITION. */
  close(): void {
    this.#closed = true;
    this.#client.close();
  }

  /** A call about one model version: `name` and `version` on the request and on the span. */
  #modelCall<S extends ModelRequestSchema, O>(
    method: UnaryMethod<MessageShape<S>, O>,
    schema: S,
    model: string,
    version: string | number | undefined,
    options: CallOptions,
  ): Promise<O> {
    // Each of these schemas has exactly `name` and `version`; TypeScript cannot see it through S.
    const init = { name: modelName(model), version: modelVersion(version) } as MessageInitShape<S>;
    const request = create(schema, init);
    return this.#call(method, request, { ...options, model, version: request.version });
  }

  async #call<I, O, R = O>(
    method: UnaryMethod<I, O>,
    request: I,
    settings: CallSettings,
    decode?: (response: O) => R,
  ): Promise<R> {
    if (this.#closed) {
      throw new InferenceError(status.FAILED_PRECONDITION, `${method.name}: the client is closed`);
    }
    const deadlineMs = positiveDeadline(
      "deadlineMs",
      settings.deadlineMs,
      settings.defaultDeadlineMs ?? this.#options.deadlineMs,
    );
    const deadline = Date.now() + deadlineMs;
    const metadata = settings.metadata?.clone() ?? new Metadata();
    const { token } = this.#options;
    if (settings.authorize === true && token !== undefined) {
      metadata.set("authorization", `Bearer ${token}`);
    }
    const { signal } = settings;
    const target = {
      service: method.service,
      method: method.name,
      model: settings.model,
      version: settings.version,
    };
    return traceCall(target, this.#server, metadata, async (span) => {
      const response = await withRetry(
        () => unaryCall(this.#client, method, request, { metadata, deadline, signal }),
        {
          policy: this.#options.retry,
          deadline,
          signal,
          onRetry: (error, retry, delayMs) => recordRetry(span, error, retry, delayMs),
        },
      );
      return decode === undefined ? (response as unknown as R) : decode(response);
    });
  }
}

function channelCredentials({ tls, address }: ResolvedClientOptions): ChannelCredentials {
  return tls === undefined ? credentials.createInsecure() : tlsCredentials(tls, address);
}

function modelName(model: string): string {
  if (typeof model !== "string" || model.length === 0) {
    throw InferenceError.invalidArgument(
      `model: expected a model name, got ${JSON.stringify(model)}`,
    );
  }
  return model;
}
