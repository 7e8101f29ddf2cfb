export * from "./features/index.js";
export * from "./config/index.js";
export * from "./pipeline/index.js";
export * from "./metrics/index.js";
export { ConsumerError, CONSUMER_ERROR_CODES, type ConsumerErrorCode } from "./errors.js";
