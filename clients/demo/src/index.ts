/**
 * @sluice/demo: the fraud demo's parts: synthetic card transactions, the load generator that sends
 * them (`sluice produce`), and the verifier that accounts for every event downstream
 * (`sluice verify`). The demo scripts (`npm run demo`) run the sluice command around them.
 */
export { DEFAULT_LABEL_DELAY_MS, produceSyntheticEvents } from "./event-producer.js";
export type { ProduceOptions, ProduceReport } from "./event-producer.js";
export {
  DEFAULT_FRAUD_RATIO,
  DEFAULT_USERS,
  DRIFT_AMOUNT_FACTOR,
  DRIFT_WEB_SHARE,
  SyntheticFraud,
} from "./synthetic-fraud.js";
export type { FraudEvent, SyntheticFraudOptions, SyntheticRecord } from "./synthetic-fraud.js";
export { summarize, verifyPipeline } from "./pipeline-verifier.js";
export type { LatencySummary, VerifyOptions, VerifyReport } from "./pipeline-verifier.js";
