export {
  DynamicBatcher,
  resolveBatcherOptions,
  DEFAULT_INSTANCE_COUNT,
  DEFAULT_LABEL,
  DEFAULT_MAX_QUEUE_DELAY_MICROS,
  DEFAULT_MAX_QUEUE_SIZE,
  DEFAULT_PREFERRED_BATCH_SIZES,
  DEFAULT_PRIORITY_LEVELS,
} from "./dynamic-batcher.js";
export type { BatcherOptions, BatchExecutor, BatchItem, QueuedItem } from "./dynamic-batcher.js";
export { BatcherError, BATCHER_ERROR_CODES } from "./batcher-error.js";
export type { BatcherErrorCode } from "./batcher-error.js";
