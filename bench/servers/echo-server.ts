/**
 * Child process of the benchmark: the gRPC ceiling. A grpc-js server answering ModelInfer with a
 * pre-encoded response of a real 1-row fraud response's size; it decodes each request as any
 * protobuf server must, and does nothing else. What the sidecar does beyond this (validation,
 * batching, the worker thread, ONNX Runtime, encoding the response) is what the ratio measures.
 *
 *   node --conditions=source --import tsx bench/servers/echo-server.ts
 */
import * as grpc from "@grpc/grpc-js";
import { GRPCInferenceService, grpcServiceDefinition } from "@sluice/proto";
import { announceReady, exitWithParent } from "../lib/child.js";
import { encodeFraudResponse } from "../lib/fraud-requests.js";
import { profileMainThread } from "../lib/main-thread-profile.js";

const response = encodeFraudResponse();
const modelInfer = grpcServiceDefinition(GRPCInferenceService)["modelInfer"]!;

const server = new grpc.Server({
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
});
server.addService(
  {
    modelInfer: {
      ...modelInfer,
      // The response is already bytes: sent as they are.
      responseSerialize: (bytes: Buffer) => bytes,
    },
  },
  {
    modelInfer: (
      _call: grpc.ServerUnaryCall<unknown, Buffer>,
      callback: grpc.sendUnaryData<Buffer>,
    ) => callback(null, response),
  },
);
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
    error ? reject(error) : resolve(bound),
  ),
);
const stopProfile = await profileMainThread();
exitWithParent(async () => {
  await stopProfile();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});
announceReady({ grpcPort: port, responseBytes: response.length });
