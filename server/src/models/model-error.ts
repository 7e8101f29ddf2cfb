/**
 * The one error of the model layer (repository, configs, loads, versions). It knows nothing of
 * gRPC: grpc/status-mapping.ts gives each code its status.
 */
import { SluiceError } from "@sluice/kit";

export const MODEL_ERROR_CODES = [
  /** A model name that is not a plain folder name. */
  "invalid_name",
  /** A config.yaml that does not parse or validate, or that contradicts the model's tensors. */
  "invalid_config",
  /** Versions that failed to load or warm up. */
  "load_failed",
  /** No such model, version or label, or nothing of it is ready. */
  "not_found",
  /** The server is shutting down. */
  "unavailable",
] as const;

export type ModelErrorCode = (typeof MODEL_ERROR_CODES)[number];

export class ModelError extends SluiceError<ModelErrorCode> {
  override readonly name = "ModelError";

  /** Only a server that is going away may answer later; every other code needs a change first. */
  protected override retryableByDefault(code: ModelErrorCode): boolean {
    return code === "unavailable";
  }
}
