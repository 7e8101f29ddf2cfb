export {
  DynamicBatcher,
  resolveBatcherOptions,
  DEFAULT_BATCHER_INSTANCE_COUNT,
  DEFAULT_BATCHER_LABEL,
  DEFAULT_BATCHER_MAX_QUEUE_DELAY_MICROS,
  DEFAULT_BATCHER_MAX_QUEUE_SIZE,
  DEFAULT_BATCHER_PREFERRED_BATCH_SIZES,
  DEFAULT_BATCHER_PRIORITY_LEVELS,
} from "./dynamic-batcher.js";
export type { BatcherOptions, BatchExecutor, BatchItem, QueuedItem } from "./dynamic-batcher.js";
export { BatcherError, BATCHER_ERROR_CODES } from "./batcher-error.js";
export type { BatcherErrorCode } from "./batcher-error.js";
