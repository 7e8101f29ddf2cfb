/**
 * The fraud model's feature layout (examples/models/README.md, "Input layout") implemented from the
 * README's text alone, with none of the feature engine's code, so tests can compare the engine and
 * the pipeline against it. Also the seeded PRNG the test streams are drawn from.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** secs_since_prev: capped at 7 days, which is also the value for a user's first transaction. */
const CAP_SECONDS = 604_800;

/** The event fields the layout reads; `timestamp` is ISO-8601 or epoch milliseconds. */
export interface FraudTransaction {
  readonly user_id: string;
  readonly amount: number;
  readonly account_age_days: number;
  readonly merchant_id: string;
  readonly merchant_category: string;
  readonly country: string;
  readonly channel: string;
  readonly timestamp: string | number;
}

/**
 * For each event in stream order, its 20 features from the same user's events before it. A user
 * missing from `homes` has no profile: country_mismatch is 0.5, "unknown".
 */
export function referenceRows(
  stream: readonly FraudTransaction[],
  homes: ReadonlyMap<string, string>,
): Float32Array[] {
  const seen = new Map<string, { t: number; amount: number; merchant: string }[]>();
  return stream.map((event) => {
    const t = typeof event.timestamp === "number" ? event.timestamp : Date.parse(event.timestamp);
    const history = seen.get(event.user_id) ?? [];
    const mine = { t, amount: event.amount, merchant: event.merchant_id };
    const within = (ms: number) => [...history, mine].filter((e) => e.t > t - ms && e.t <= t);
    const day = within(DAY);
    const mean24 = day.reduce((sum, e) => sum + e.amount, 0) / day.length;
    const previous = history.at(-1);
    const gap =
      previous === undefined ? CAP_SECONDS : Math.min((t - previous.t) / 1000, CAP_SECONDS);
    const date = new Date(t);
    const h = date.getUTCHours() + date.getUTCMinutes() / 60;
    const row = Float32Array.from([
      Math.log1p(event.amount),
      Math.log1p(event.account_age_days),
      within(5 * MIN).length,
      within(HOUR).length,
      day.length,
      event.amount / Math.max(mean24, 1),
      new Set(within(HOUR).map((e) => e.merchant)).size,
      Math.log1p(gap),
      !homes.has(event.user_id) ? 0.5 : event.country === homes.get(event.user_id) ? 0 : 1,
      Math.sin((2 * Math.PI * h) / 24),
      Math.cos((2 * Math.PI * h) / 24),
      ...["web", "mobile", "pos"].map((c) => (event.channel === c ? 1 : 0)),
      ...ONE_HOT_CATEGORIES.map((c) => (event.merchant_category === c ? 1 : 0)),
    ]);
    history.push(mine);
    seen.set(event.user_id, history);
    return row;
  });
}

/** The merchant categories of the layout's one-hot block (14-19), in order; any other is all zeros. */
export const ONE_HOT_CATEGORIES = [
  "grocery",
  "restaurants",
  "fashion",
  "electronics",
  "travel",
  "digital_goods",
] as const;

/** mulberry32: a small seeded PRNG, so a stream is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
