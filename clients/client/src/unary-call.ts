/**
 * Typed unary calls over a grpc-js Client, built from the protobuf-es service descriptors through
 * `grpcServiceDefinition`, so no method path or serializer is written by hand.
 */
import { status, type Client, type Metadata, type MethodDefinition } from "@grpc/grpc-js";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { errorMessage } from "@sluice/kit";
import { InferenceError, grpcServiceDefinition } from "@sluice/proto";

type Shape<M> = M extends DescMessage ? MessageShape<M> : never;

/** One unary method: its path, serializers, and the names a span needs. */
export interface UnaryMethod<I, O> {
  readonly service: string;
  readonly name: string;
  readonly definition: MethodDefinition<I, O>;
}

/** Every unary method of a generated service, keyed by local name, typed by its messages. */
export type UnaryMethods<S extends GenServiceMethods> = {
  [K in keyof S as S[K]["methodKind"] extends "unary" ? K : never]: UnaryMethod<
    Shape<S[K]["input"]>,
    Shape<S[K]["output"]>
  >;
};

export function unaryMethods<S extends GenServiceMethods>(service: GenService<S>): UnaryMethods<S> {
  const definition = grpcServiceDefinition(service);
  const methods: Record<string, UnaryMethod<unknown, unknown>> = {};
  for (const method of service.methods) {
    const def = definition[method.localName];
    if (method.methodKind !== "unary" || def === undefined) continue;
    methods[method.localName] = {
      service: service.typeName,
      name: method.name,
      definition: def as MethodDefinition<unknown, unknown>,
    };
  }
  return methods as UnaryMethods<S>;
}

export interface UnaryCallOptions {
  readonly metadata: Metadata;
  /** Absolute deadline, ms since the epoch. */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Sends one unary call and settles with its response or an InferenceError. Aborting `signal`
 * cancels the call on the wire (the server sees CANCELLED) and rejects with CANCELLED at once.
 */
export function unaryCall<I, O>(
  client: Client,
  method: UnaryMethod<I, O>,
  request: I,
  options: UnaryCallOptions,
): Promise<O> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(aborted(method, signal));
  return new Promise<O>((resolve, reject) => {
    const { path, requestSerialize, responseDeserialize } = method.definition;
    const onAbort = (): void => {
      reject(aborted(method, signal));
      call.cancel();
    };
    const call = client.makeUnaryRequest(
      path,
      requestSerialize,
      responseDeserialize,
      request,
      options.metadata,
      { deadline: options.deadline },
      (error, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (error !== null) reject(InferenceError.from(error));
        else if (response === undefined)
          reject(new InferenceError(status.INTERNAL, `${method.name}: empty response`));
        else resolve(response);
      },
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function aborted(
  method: { readonly name: string },
  signal: AbortSignal | undefined,
): InferenceError {
  const reason: unknown = signal?.reason;
  return new InferenceError(status.CANCELLED, `${method.name} aborted: ${errorMessage(reason)}`, {
    cause: reason,
  });
}
