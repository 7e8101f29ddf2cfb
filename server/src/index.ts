export { startSidecar, type Sidecar, type SidecarDependencies } from "./sidecar.js";
export {
  resolveSidecarOptions,
  DEFAULT_GRPC_PORT,
  DEFAULT_METRICS_PORT,
  DEFAULT_HOST,
  DEFAULT_POLL_SECS,
  DEFAULT_MAX_MESSAGE_BYTES,
  type SidecarOptions,
  type ResolvedSidecarOptions,
  type TlsFiles,
} from "./options.js";
export { MODEL_CONTROL_MODES, type ModelControlMode } from "./models/model-control.js";
export type { IndexEntry } from "./models/model-manager.js";
export type {
  ModelRuntime,
  LoadedModel,
  Tensor,
  TensorSpec,
  RuntimeOptions,
} from "./runtime/model-runtime.js";
