/**
 * The generated files as a serialized `google.protobuf.FileDescriptorSet`, for gRPC server
 * reflection: grpcurl and other tools learn the services from the server without .proto files.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** Serializes `files` and every file they import, dependencies first. */
export function fileDescriptorSet(files: readonly GenFile[]): Uint8Array {
  const ordered: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (file: GenFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file.proto);
  };
  files.forEach(visit);
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: ordered }));
}
