export * from "./features/index.js";
export { ConsumerError, CONSUMER_ERROR_CODES, type ConsumerErrorCode } from "./errors.js";
