/**
 * Synthetic card transactions for the fraud example, shaped like the training data described in
 * examples/models/README.md: users with a home country, a typical amount, favourite categories and
 * merchants, a usual channel mix and hours of activity; some travel; a small share of account
 * takeovers that burst (a few payments seconds apart, high amounts at new merchants, mostly online,
 * often abroad, sometimes after a tiny card-testing payment). Seeded, so a run can be repeated.
 *
 * Event times are the wall clock at generation: the stream is live, so end-to-end latency can be
 * measured from the event's own `timestamp`.
 */
import { ONE_HOT_CATEGORIES } from "@sluice/testing";

export interface FraudEvent {
  readonly id: string;
  readonly user_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly merchant_id: string;
  readonly merchant_category: string;
  readonly country: string;
  readonly channel: string;
  readonly account_age_days: number;
  readonly timestamp: string;
}

/** One generated record: a well-formed event, or a malformed value (for the dead-letter path). */
export type SyntheticRecord =
  | {
      readonly kind: "event";
      readonly key: string;
      readonly event: FraudEvent;
      readonly fraud: boolean;
    }
  | {
      readonly kind: "malformed";
      readonly key: string;
      readonly value: string;
      readonly why: string;
    };

export interface SyntheticFraudOptions {
  /** @default 1000 */
  readonly users?: number;
  /** Share of events that belong to fraud bursts, roughly. @default 0.015 (the README's 1.45 %) */
  readonly fraudRatio?: number;
  /** Share of records that are malformed. @default 0 */
  readonly malformedRatio?: number;
  /** @default 1 */
  readonly seed?: number;
  /** In every id and user id, so runs never collide. @default derived from the seed */
  readonly runId?: string;
}

/** Enough users that windows stay short per user at a few hundred events a second. */
export const DEFAULT_USERS = 1_000;
/** The README's simulated data: 1.45 % of transactions are fraud. */
export const DEFAULT_FRAUD_RATIO = 0.015;
/**
 * Drift (`next(now, true)`): ordinary payments become this many times larger and mostly online,
 * as after a price change and a shop moving online. amount_log moves by ln 4 ≈ 1.4, about a
 * standard deviation of the users' habits: a major PSI band, not a subtle one.
 */
export const DRIFT_AMOUNT_FACTOR = 4;
/** Under drift, this share of ordinary payments is made on the web. */
export const DRIFT_WEB_SHARE = 0.6;

interface Country {
  readonly code: string;
  readonly currency: string;
  /** UTC offset in hours, for the user's local time of day. */
  readonly utcOffset: number;
  readonly weight: number;
}

const COUNTRIES: readonly Country[] = [
  { code: "US", currency: "USD", utcOffset: -5, weight: 30 },
  { code: "GB", currency: "GBP", utcOffset: 0, weight: 12 },
  { code: "FR", currency: "EUR", utcOffset: 1, weight: 10 },
  { code: "DE", currency: "EUR", utcOffset: 1, weight: 10 },
  { code: "BR", currency: "BRL", utcOffset: -3, weight: 8 },
  { code: "NG", currency: "NGN", utcOffset: 1, weight: 6 },
  { code: "IN", currency: "INR", utcOffset: 5.5, weight: 10 },
  { code: "AU", currency: "AUD", utcOffset: 10, weight: 6 },
  { code: "JP", currency: "JPY", utcOffset: 9, weight: 8 },
];
/** The categories the model one-hot encodes, then others it sees as none of them. */
const CATEGORIES = [...ONE_HOT_CATEGORIES, "fuel", "health", "entertainment", "utilities"] as const;
const FRAUD_CATEGORIES = ["electronics", "digital_goods", "fashion", "travel"] as const;
const CHANNELS = ["pos", "web", "mobile"] as const;

interface User {
  readonly id: string;
  readonly home: Country;
  readonly ageDays: number;
  /** Median amount, in currency units. */
  readonly typicalAmount: number;
  readonly channelWeights: readonly number[];
  readonly categories: readonly string[];
  readonly merchants: readonly string[];
  /** Hour of local time when the user is most active. */
  readonly peakHour: number;
  /** Abroad until this wall-clock time, in this country. */
  trip: { until: number; country: Country } | undefined;
}

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class SyntheticFraud {
  readonly users: readonly User[];
  readonly runId: string;
  readonly #random: () => number;
  readonly #fraudRatio: number;
  readonly #malformedRatio: number;
  /** Burst payments waiting for their time, earliest first. */
  readonly #pending: { at: number; user: User; card_test: boolean }[] = [];
  #sequence = 0;

  constructor(options: SyntheticFraudOptions = {}) {
    const seed = options.seed ?? 1;
    this.#random = prng(seed);
    this.runId = options.runId ?? `s${seed}`;
    this.#fraudRatio = options.fraudRatio ?? DEFAULT_FRAUD_RATIO;
    this.#malformedRatio = options.malformedRatio ?? 0;
    const count = options.users ?? DEFAULT_USERS;
    this.users = Array.from({ length: count }, (_, i) => this.#user(i));
  }

  /** user_id → home country, for the lookup records the pipeline reads (`user:<id>`). */
  homes(): Map<string, string> {
    return new Map(this.users.map((user) => [user.id, user.home.code]));
  }

  /**
   * The next record, as of wall-clock `now`; `drifted` shifts ordinary payments (larger, mostly
   * online: `DRIFT_AMOUNT_FACTOR`, `DRIFT_WEB_SHARE`). Fraud bursts stay as they were.
   */
  next(now: number = Date.now(), drifted = false): SyntheticRecord {
    const due = this.#pending[0];
    if (due !== undefined && due.at <= now) {
      this.#pending.shift();
      return {
        kind: "event",
        key: due.user.id,
        event: this.#fraudEvent(due.user, now, due.card_test),
        fraud: true,
      };
    }
    // A burst averages ~5 payments, so starting one every 5/ratio events gives the ratio.
    if (this.#random() < this.#fraudRatio / 5) this.#startBurst(now);
    const user = this.#activeUser(now);
    if (this.#random() < this.#malformedRatio) return this.#malformed(user, now);
    return {
      kind: "event",
      key: user.id,
      event: this.#normalEvent(user, now, drifted),
      fraud: false,
    };
  }

  #user(i: number): User {
    const r = this.#random;
    const home = this.#weighted(
      COUNTRIES,
      COUNTRIES.map((c) => c.weight),
    );
    const newAccount = r() < 0.05;
    const shuffled = [...CATEGORIES].sort(() => r() - 0.5);
    const webShare = 0.15 + r() * 0.5;
    const mobileShare = r() * (1 - webShare);
    return {
      id: `u-${this.runId}-${i}`,
      home,
      ageDays: newAccount ? Math.floor(r() * 30) : 30 + Math.floor(r() * 3000),
      typicalAmount: Math.exp(2.5 + r() * 2.2),
      channelWeights: [1 - webShare - mobileShare, webShare, mobileShare],
      categories: shuffled.slice(0, 2 + Math.floor(r() * 3)),
      merchants: Array.from({ length: 4 + Math.floor(r() * 6) }, () => this.#merchant()),
      // About one in ten is a night owl.
      peakHour: r() < 0.1 ? 1 + Math.floor(r() * 3) : 10 + Math.floor(r() * 10),
      trip: undefined,
    };
  }

  /** A user picked with more weight near their local peak hour. */
  #activeUser(now: number): User {
    for (let attempt = 0; attempt < 8; attempt++) {
      const user = this.users[Math.floor(this.#random() * this.users.length)]!;
      const local = (new Date(now).getUTCHours() + user.home.utcOffset + 24) % 24;
      const distance = Math.min(
        Math.abs(local - user.peakHour),
        24 - Math.abs(local - user.peakHour),
      );
      if (this.#random() < Math.exp(-distance / 6)) return user;
    }
    return this.users[Math.floor(this.#random() * this.users.length)]!;
  }

  #normalEvent(user: User, now: number, drifted = false): FraudEvent {
    const r = this.#random;
    // Users travel now and then and pay in shops abroad. Trips last minutes, not days: a run
    // of this generator lasts minutes too.
    if (user.trip !== undefined && user.trip.until < now) user.trip = undefined;
    if (user.trip === undefined && r() < 0.002) {
      user.trip = { until: now + (1 + r() * 4) * 60_000, country: this.#foreign(user.home) };
    }
    const abroad = user.trip?.country;
    const online = r() < 0.03;
    const country = abroad ?? (online ? this.#foreign(user.home) : user.home);
    const amount = user.typicalAmount * Math.exp((r() - 0.5) * 1.5);
    const channel = abroad !== undefined ? "pos" : this.#weighted(CHANNELS, user.channelWeights);
    return this.#event(user, now, {
      amount: drifted ? amount * DRIFT_AMOUNT_FACTOR : amount,
      merchant: r() < 0.8 ? this.#pick(user.merchants) : this.#merchant(),
      category: r() < 0.85 ? this.#pick(user.categories) : this.#pick(CATEGORIES),
      country,
      channel: drifted && r() < DRIFT_WEB_SHARE ? "web" : channel,
    });
  }

  #startBurst(now: number): void {
    const user = this.users[Math.floor(this.#random() * this.users.length)]!;
    let at = now;
    const cardTests = this.#random() < 0.3 ? 1 + Math.floor(this.#random() * 2) : 0;
    const payments = 2 + Math.floor(this.#random() * 6);
    for (let i = 0; i < cardTests + payments; i++) {
      // The first at once, then seconds to a minute apart; some fraudsters go slower.
      if (i > 0) {
        at += (this.#random() < 0.8 ? 2 + this.#random() * 40 : 60 + this.#random() * 240) * 1000;
      }
      this.#pending.push({ at, user, card_test: i < cardTests });
    }
    this.#pending.sort((a, b) => a.at - b.at);
  }

  #fraudEvent(user: User, now: number, cardTest: boolean): FraudEvent {
    const r = this.#random;
    // One fraudster in five keeps amounts close to the victim's habits.
    const careful = r() < 0.2;
    return this.#event(user, now, {
      amount: cardTest ? 0.5 + r() * 2 : user.typicalAmount * (careful ? 0.8 + r() : 4 + r() * 16),
      merchant: this.#merchant(),
      category: this.#pick(FRAUD_CATEGORIES),
      country: r() < 0.6 ? this.#foreign(user.home) : user.home,
      channel: r() < 0.85 ? this.#pick(["web", "mobile"] as const) : "pos",
    });
  }

  #event(
    user: User,
    now: number,
    what: { amount: number; merchant: string; category: string; country: Country; channel: string },
  ): FraudEvent {
    return {
      id: `tx-${this.runId}-${this.#sequence++}`,
      user_id: user.id,
      amount: Math.max(0.01, Math.round(what.amount * 100) / 100),
      currency: what.country.currency,
      merchant_id: what.merchant,
      merchant_category: what.category,
      country: what.country.code,
      channel: what.channel,
      account_age_days: user.ageDays,
      timestamp: new Date(now).toISOString(),
    };
  }

  #malformed(user: User, now: number): SyntheticRecord {
    const event = this.#normalEvent(user, now);
    const kinds: [string, () => string][] = [
      ["not JSON", () => `{"id": "${event.id}", "user_id": ${user.id}`],
      ["amount as text", () => JSON.stringify({ ...event, amount: "12,50" })],
      ["no user_id", () => JSON.stringify({ ...event, user_id: undefined })],
      ["timestamp not a time", () => JSON.stringify({ ...event, timestamp: "yesterday" })],
    ];
    const [why, make] = this.#pick(kinds);
    return { kind: "malformed", key: user.id, value: make(), why };
  }

  #foreign(home: Country): Country {
    const others = COUNTRIES.filter((c) => c.code !== home.code);
    return this.#weighted(
      others,
      others.map((c) => c.weight),
    );
  }

  #merchant(): string {
    return `m-${Math.floor(this.#random() * 50_000)}`;
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)]!;
  }

  #weighted<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((sum, w) => sum + w, 0);
    let x = this.#random() * total;
    for (const [i, item] of items.entries()) {
      x -= weights[i] ?? 0;
      if (x < 0) return item;
    }
    return items[items.length - 1]!;
  }
}
