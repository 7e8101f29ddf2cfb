/** Tools around a pipeline: synthetic events in, a downstream reader's account of what came out. */
export { collectTopics } from "./topic-reader.js";
export type { CollectOptions, Collected, ReadRecord } from "./topic-reader.js";
export { produceSyntheticEvents } from "./event-producer.js";
export type { ProduceOptions, ProduceReport } from "./event-producer.js";
export { DEFAULT_FRAUD_RATIO, DEFAULT_USERS, SyntheticFraud } from "./synthetic-fraud.js";
export type { FraudEvent, SyntheticFraudOptions, SyntheticRecord } from "./synthetic-fraud.js";
export { summarize, verifyPipeline } from "./pipeline-verifier.js";
export type { LatencySummary, VerifyOptions, VerifyReport } from "./pipeline-verifier.js";
