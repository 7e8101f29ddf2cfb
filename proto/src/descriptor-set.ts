/**
 * The generated files as serialized `google.protobuf.FileDescriptorProto`s, for gRPC server
 * reflection: grpcurl and other tools learn the services from the server without .proto files.
 * These are the exact descriptors protoc produced, not a re-derivation of them.
 */
import { toBinary } from "@bufbuild/protobuf";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** Serializes `files` and every file they import, dependencies first. */
export function fileDescriptorProtos(files: readonly GenFile[]): Uint8Array[] {
  const ordered: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (file: GenFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(toBinary(FileDescriptorProtoSchema, file.proto));
  };
  files.forEach(visit);
  return ordered;
}
