/**
 * The model and repository RPCs the version tests call, as typed one-liners over the bare
 * ProtocolClient. Requests are built with `create(Schema)`: the protobuf-es serializer needs real
 * messages, a plain object fails to serialize.
 */
import { create } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import {
  ModelMetadataRequestSchema,
  ModelReadyRequestSchema,
  RepositoryIndexRequestSchema,
  RepositoryModelLoadRequestSchema,
  RepositoryModelUnloadRequestSchema,
  type ModelMetadataResponse,
  type ModelReadyResponse,
  type RepositoryIndexResponse,
  type RepositoryIndexResponse_ModelIndex,
} from "@sluice/proto";
import type { ProtocolClient } from "./test-sidecar.js";

export type IndexEntry = Pick<
  RepositoryIndexResponse_ModelIndex,
  "name" | "version" | "state" | "reason"
>;

export class ModelClient {
  constructor(
    readonly protocol: ProtocolClient,
    /** Sent as `authorization: Bearer <token>` on load and unload. */
    private readonly adminToken?: string,
  ) {}

  private adminMetadata(): Metadata {
    const metadata = new Metadata();
    if (this.adminToken !== undefined) metadata.set("authorization", `Bearer ${this.adminToken}`);
    return metadata;
  }

  async ready(name: string, version = ""): Promise<boolean> {
    const response = await this.protocol.call<ModelReadyResponse>(
      "modelReady",
      create(ModelReadyRequestSchema, { name, version }),
    );
    return response.ready;
  }

  metadata(name: string, version = ""): Promise<ModelMetadataResponse> {
    return this.protocol.call<ModelMetadataResponse>(
      "modelMetadata",
      create(ModelMetadataRequestSchema, { name, version }),
    );
  }

  /** RepositoryIndex entries as plain objects (so assert.deepEqual compares only what matters). */
  async index(readyOnly = false): Promise<IndexEntry[]> {
    const response = await this.protocol.call<RepositoryIndexResponse>(
      "repositoryIndex",
      create(RepositoryIndexRequestSchema, { repositoryName: "", ready: readyOnly }),
    );
    return response.models.map(({ name, version, state, reason }) => ({
      name,
      version,
      state,
      reason,
    }));
  }

  /** The index entry of one model version, or undefined when the index does not list it. */
  async indexEntry(name: string, version: string): Promise<IndexEntry | undefined> {
    return (await this.index()).find((entry) => entry.name === name && entry.version === version);
  }

  async load(modelName: string): Promise<void> {
    await this.protocol.call(
      "repositoryModelLoad",
      create(RepositoryModelLoadRequestSchema, { repositoryName: "", modelName }),
      { metadata: this.adminMetadata() },
    );
  }

  async unload(modelName: string): Promise<void> {
    await this.protocol.call(
      "repositoryModelUnload",
      create(RepositoryModelUnloadRequestSchema, { repositoryName: "", modelName }),
      { metadata: this.adminMetadata() },
    );
  }
}
