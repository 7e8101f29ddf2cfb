/**
 * Bridges protobuf-es service descriptors to @grpc/grpc-js.
 *
 * grpc-js wants a `ServiceDefinition` (path + serializers per method); protobuf-es generates typed
 * descriptors. One function builds the first from the second, so the `.proto` files stay the single
 * source of truth and neither the server nor the client hand-writes a path or a serializer.
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type {
  MethodDefinition,
  ServiceDefinition,
  UntypedServiceImplementation,
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
} from "@grpc/grpc-js";

type Shape<M> = M extends DescMessage ? MessageShape<M> : never;

/** The grpc-js handler type for one method of a generated service. */
export type GrpcHandler<M extends GenServiceMethods[string]> = M["methodKind"] extends "unary"
  ? handleUnaryCall<Shape<M["input"]>, Shape<M["output"]>>
  : M["methodKind"] extends "server_streaming"
    ? handleServerStreamingCall<Shape<M["input"]>, Shape<M["output"]>>
    : handleBidiStreamingCall<Shape<M["input"]>, Shape<M["output"]>>;

/** A full server implementation of a generated service, keyed by the methods' local (camelCase) names. */
export type GrpcServiceImplementation<S extends GenServiceMethods> = {
  [K in keyof S]: GrpcHandler<S[K]>;
};

function serializer(desc: DescMessage): (message: object) => Buffer {
  return (message) => {
    const bytes = toBinary(desc, message as MessageShape<DescMessage>);
    // A view, not a copy: the encoded bytes are handed to HTTP/2 as they are.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(desc: DescMessage): (bytes: Buffer) => object {
  // Bytes fields come back as views into `bytes`: raw tensor contents are never copied here.
  return (bytes) => fromBinary(desc, bytes);
}

/** Builds the grpc-js service definition for a protobuf-es service descriptor. */
export function grpcServiceDefinition<S extends GenServiceMethods>(
  service: GenService<S>,
): ServiceDefinition<UntypedServiceImplementation> {
  const definition: Record<string, MethodDefinition<object, object>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream:
        method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream:
        method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition;
}
