"""The fraud model's 20 inputs as examples/pipelines/fraud.yaml defines them
(examples/models/README.md, "Input layout"), computed the way the article's consumer would: each
user's recent events in process memory, the home countries in a dict. Used by article_consumer.py.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta, timezone

FIVE_MINUTES_MS = 5 * 60_000
HOUR_MS = 60 * 60_000
DAY_MS = 24 * HOUR_MS
PREVIOUS_CAP_S = 7 * 86_400.0  # secs_since_prev: capped at 7 days, also the value for a first event
CHANNELS = ("web", "mobile", "pos")
CATEGORIES = ("grocery", "restaurants", "fashion", "electronics", "travel", "digital_goods")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)


def event_time_ms(value: object) -> int:
    """Epoch milliseconds from ISO-8601 with a zone (the generator's) or from epoch milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"timestamp: expected an ISO-8601 time or epoch ms, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp: expected a time with a zone, got {value!r}")
    return (parsed - EPOCH) // ONE_MS


class FraudFeatures:
    """The fraud model's 20 inputs, with each user's recent events in process memory.

    Windows hold the user's events with event time in (t - W, t] seen before this one in the
    stream, plus this one; the previous event is the user's latest earlier one in the stream. A
    user's events come in time order (one key, one partition), so entries older than the longest
    window are dropped from the left.
    """

    def __init__(self, home_countries: dict[str, str]):
        self.home_countries = home_countries
        self.windows: dict[str, deque[tuple[int, float, str]]] = {}
        self.previous: dict[str, int] = {}

    def extract(self, data: dict) -> tuple[list[float], int]:
        """The feature vector of one event and its event time; raises on a malformed event."""
        user = data["user_id"]
        if not isinstance(user, str) or user == "":
            raise ValueError(f"user_id: expected a non-empty string, got {user!r}")
        t = event_time_ms(data["timestamp"])
        amount = float(data["amount"])
        account_age = float(data["account_age_days"])
        merchant = str(data["merchant_id"])
        country = str(data["country"])
        channel = data["channel"]
        category = data["merchant_category"]
        home = self.home_countries.get(user)
        if home is None:
            raise KeyError(f"user:{user} has no home_country")
        amount_log = math.log1p(amount)
        account_age_log = math.log1p(account_age)

        window = self.windows.get(user)
        if window is None:
            window = self.windows[user] = deque()
        window.append((t, amount, merchant))
        while window[0][0] <= t - DAY_MS:
            window.popleft()
        count_5m = count_1h = count_24h = 0
        amount_24h = 0.0
        merchants_1h = set()
        for when, paid, where in window:
            if when > t:  # later in event time though earlier in the stream
                continue
            count_24h += 1
            amount_24h += paid
            if when > t - HOUR_MS:
                count_1h += 1
                merchants_1h.add(where)
                if when > t - FIVE_MINUTES_MS:
                    count_5m += 1

        previous = self.previous.get(user)
        self.previous[user] = t
        if previous is None:
            gap = PREVIOUS_CAP_S
        else:
            gap = min(max((t - previous) / 1000, 0.0), PREVIOUS_CAP_S)

        minute_of_day = (t // 60_000) % 1440
        angle = 2 * math.pi * (minute_of_day // 60 + (minute_of_day % 60) / 60) / 24
        features = [
            amount_log,
            account_age_log,
            count_5m,
            count_1h,
            count_24h,
            amount / max(amount_24h / count_24h, 1.0),
            len(merchants_1h),
            math.log1p(gap),
            0.0 if country == home else 1.0,
            math.sin(angle),
            math.cos(angle),
        ]
        features += [1.0 if channel == c else 0.0 for c in CHANNELS]
        features += [1.0 if category == c else 0.0 for c in CATEGORIES]
        return features, t
