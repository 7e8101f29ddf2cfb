/**
 * The gRPC server of the sidecar: the inference service, gRPC health (overall and per service) and
 * server reflection, bound with or without TLS, and shut down once its calls are answered.
 */
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
import type { TlsFiles } from "../options.js";
import type { InferenceServiceImplementation } from "./inference-service.js";

const INFERENCE_SERVICE = "inference.GRPCInferenceService";

export interface GrpcServer {
  readonly server: grpc.Server;
  /** Health of the server and of the inference service: SERVING or NOT_SERVING. */
  setServing(serving: boolean): void;
}

/** A server with every service added; health says NOT_SERVING until `setServing(true)`. */
export function createGrpcServer(
  inference: InferenceServiceImplementation,
  maxMessageBytes: number,
): GrpcServer {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
  });
  server.addService(grpcServiceDefinition(GRPCInferenceService), inference);
  const healthService = new HealthImplementation({
    "": "NOT_SERVING",
    [INFERENCE_SERVICE]: "NOT_SERVING",
  });
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
  return {
    server,
    setServing(serving) {
      const state = serving ? "SERVING" : "NOT_SERVING";
      healthService.setStatus("", state);
      healthService.setStatus(INFERENCE_SERVICE, state);
    },
  };
}

/** Binds host:port (0 picks a free port), over TLS when `tls` is set; resolves with the port. */
export function bindGrpcServer(
  server: grpc.Server,
  host: string,
  port: number,
  tls: TlsFiles | undefined,
): Promise<number> {
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(
        tls.clientCa ?? null,
        [{ cert_chain: tls.cert, private_key: tls.key }],
        tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host.includes(":") ? `[${host}]` : host}:${port}`,
      credentials,
      (error, bound) =>
        error
          ? reject(new Error(`gRPC ${host}:${port}: ${error.message}`, { cause: error }))
          : resolve(bound),
    );
  });
}

/** Stops taking calls and resolves once the calls in flight are answered. */
export function shutDownGrpcServer(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
}
