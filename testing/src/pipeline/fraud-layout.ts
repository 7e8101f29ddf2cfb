/**
 * The fraud model's input layout (examples/models/README.md, "Input layout") as a feature spec:
 * ready to paste into a pipeline YAML under `pipeline:`. Tests check it against an independent
 * implementation of the README's definitions.
 */
export const FRAUD_FEATURES_YAML = `
features:
  entity_key: user_id
  event_time: timestamp
  vector:
    - name: amount_log                      # 0: ln(1 + amount)
      field: amount
      transform: log1p
    - name: account_age_log                 # 1: ln(1 + account_age_days)
      field: account_age_days
      transform: log1p
    - name: tx_count_5m                     # 2-4: the user's events in (t - W, t], this one included
      window: { agg: count, over: 5m }
    - name: tx_count_1h
      window: { agg: count, over: 1h }
    - name: tx_count_24h
      window: { agg: count, over: 24h }
    - name: amount_ratio_mean_24h           # 5: amount / max(mean amount over 24 h, 1)
      ratio:
        numerator: { field: amount }
        denominator: { window: { agg: mean, field: amount, over: 24h } }
        min_denominator: 1
    - name: distinct_merchants_1h           # 6
      window: { agg: distinct_count, field: merchant_id, over: 1h }
    - name: secs_since_prev_log             # 7: ln(1 + min(gap, 7 d)); 7 d for the first event
      since_previous: { cap: 7d, default: 7d }
      transform: log1p
    - name: country_mismatch                # 8: country != the user's home country; 0.5 unknown
      lookup:
        key: "user:{user_id}"
        field: home_country
        compare: { op: mismatch, field: country }
        missing: null
        null_value: 0.5
    - name: hour                            # 9-10: hour_sin, hour_cos (UTC, to the minute)
      time: { part: hour_of_day, encoding: cyclic }
    - name: channel                         # 11-13: channel_web, channel_mobile, channel_pos
      field: channel
      type: string
      transform: { one_hot: { vocabulary: [web, mobile, pos] } }
    - name: category                        # 14-19: category_grocery … category_digital_goods
      field: merchant_category
      type: string
      transform:
        one_hot: { vocabulary: [grocery, restaurants, fashion, electronics, travel, digital_goods] }
`;

/** The README's names, in order. */
export const FRAUD_FEATURE_NAMES = [
  "amount_log",
  "account_age_log",
  "tx_count_5m",
  "tx_count_1h",
  "tx_count_24h",
  "amount_ratio_mean_24h",
  "distinct_merchants_1h",
  "secs_since_prev_log",
  "country_mismatch",
  "hour_sin",
  "hour_cos",
  "channel_web",
  "channel_mobile",
  "channel_pos",
  "category_grocery",
  "category_restaurants",
  "category_fashion",
  "category_electronics",
  "category_travel",
  "category_digital_goods",
] as const;
