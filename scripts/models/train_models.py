#!/usr/bin/env python3
"""Regenerate Sluice's example models and protocol-test fixture models.

    python3 scripts/models/train_models.py [--out-root DIR] [--skip-mlp] [--fixtures-only]
                                           [--references-only] [--golden FILE]

Writes, relative to --out-root (default: the repository root):

    examples/models/fraud/1/model.onnx      logistic regression (scaled), the "stable" model
    examples/models/fraud/2/model.onnx      histogram gradient boosting, the "canary" model
    examples/models/fraud-mlp/1/model.onnx  a deliberately heavy MLP for batching benchmarks
    examples/models/*/*/reference.json      each version's reference distributions, for drift
                                            monitoring (format in examples/models/README.md)
    test/fixtures/models/*/1/model.onnx     tiny hand-built graphs for the protocol test suite

`--references-only` rewrites only the reference.json files, scoring the committed model.onnx files
with onnxruntime on the same simulated data: the models are not retrained or touched.

Everything is deterministic: the transaction data set is simulated from a fixed seed, training
uses fixed seeds, and the ONNX files carry no timestamps, so a rerun with the pinned versions in
requirements.txt rewrites byte-identical files. Serving never needs Python: the .onnx files are
committed.

The simulated events are turned into features by `stream_features`, which is written the way a
streaming consumer sees the data (one user's events in event-time order, windows that end at and
include the current event), because that is what the Kafka consumer computes at serving time. The
feature contract is documented in examples/models/README.md; keep both in step.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20240917  # every random draw (data, split, training, fixture weights) derives from it

# ---------------------------------------------------------------------------------------------
# Feature contract (examples/models/README.md documents the same table)
# ---------------------------------------------------------------------------------------------

FEATURE_NAMES = [
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
]
CHANNELS = ["web", "mobile", "pos"]
# Categories with a one-hot slot; every other category encodes as all zeros.
ONE_HOT_CATEGORIES = ["grocery", "restaurants", "fashion", "electronics", "travel", "digital_goods"]
OTHER_CATEGORIES = ["fuel", "health", "entertainment", "utilities", "other"]
CATEGORIES = ONE_HOT_CATEGORIES + OTHER_CATEGORIES

MS_5M = 5 * 60 * 1000
MS_1H = 60 * 60 * 1000
MS_24H = 24 * MS_1H
# A user with no previous transaction looks like one who has been quiet for a week; gaps longer
# than that are capped too, so a consumer whose per-user state expires after 7 days computes the
# same value as one that keeps it forever.
SECS_SINCE_PREV_CAP = 7 * 24 * 3600
# country_mismatch of a user whose home country is unknown (no profile record): half-way between
# "at home" (0) and "abroad" (1), so the linear and neural models, which cannot take NaN, see a
# value between the two they know; the trees learn it as a third value. The pipeline writes the
# same (examples/pipelines/fraud.yaml: lookup missing: null, null_value: 0.5).
COUNTRY_UNKNOWN = 0.5
# Users without a profile record: producers that are not `sluice produce` write none, and a new
# user's profile may come later than their first payments. Drawn from a random stream of its own,
# so the events (and so every other feature) are the same as without it.
NO_PROFILE_SHARE = 0.15


def stream_features(events: dict[str, np.ndarray], home_country: str | None) -> np.ndarray:
    """Features of one user's events, in event-time order, exactly as a streaming consumer sees them.

    An event e' is in the W-window of event e when t(e) - W < t(e') <= t(e) and e' does not come
    after e in the stream; e itself is always counted. `home_country` is None for a user without
    a profile.
    """
    t = events["time_ms"]
    n = len(t)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out
    amount = events["amount"]
    merchant = events["merchant_id"]
    lo5 = np.searchsorted(t, t - MS_5M, side="right")
    lo1h = np.searchsorted(t, t - MS_1H, side="right")
    lo24 = np.searchsorted(t, t - MS_24H, side="right")
    idx = np.arange(n)
    csum = np.concatenate([[0.0], np.cumsum(amount)])
    count24 = idx - lo24 + 1
    mean24 = (csum[idx + 1] - csum[lo24]) / count24

    prev_gap = np.full(n, float(SECS_SINCE_PREV_CAP))
    prev_gap[1:] = np.minimum((t[1:] - t[:-1]) / 1000.0, SECS_SINCE_PREV_CAP)

    secs = t // 1000
    hour = (secs // 3600) % 24 + ((secs // 60) % 60) / 60.0  # UTC, to the minute

    out[:, 0] = np.log1p(amount)
    out[:, 1] = np.log1p(events["account_age_days"])
    out[:, 2] = idx - lo5 + 1
    out[:, 3] = idx - lo1h + 1
    out[:, 4] = count24
    out[:, 5] = amount / np.maximum(mean24, 1.0)
    out[:, 6] = [len(set(merchant[lo1h[i] : i + 1].tolist())) for i in range(n)]
    out[:, 7] = np.log1p(prev_gap)
    out[:, 8] = COUNTRY_UNKNOWN if home_country is None else events["country"] != home_country
    out[:, 9] = np.sin(2 * math.pi * hour / 24)
    out[:, 10] = np.cos(2 * math.pi * hour / 24)
    for k, channel in enumerate(CHANNELS):
        out[:, 11 + k] = events["channel"] == channel
    for k, category in enumerate(ONE_HOT_CATEGORIES):
        out[:, 14 + k] = events["category"] == category
    return out


# ---------------------------------------------------------------------------------------------
# Synthetic transaction streams
# ---------------------------------------------------------------------------------------------

N_USERS = 6500
SIM_DAYS = 30
SIM_START_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z
MERCHANTS_PER_CATEGORY = 1500
# (country, UTC offset in hours, share of users)
COUNTRIES = [
    ("US", -5.0, 0.28), ("GB", 0.0, 0.10), ("DE", 1.0, 0.10), ("FR", 1.0, 0.08),
    ("ES", 1.0, 0.05), ("BR", -3.0, 0.08), ("IN", 5.5, 0.08), ("JP", 9.0, 0.06),
    ("AU", 10.0, 0.04), ("MX", -6.0, 0.05), ("CA", -5.0, 0.05), ("NG", 1.0, 0.03),
]  # fmt: skip
COUNTRY_CODES = [c for c, _, _ in COUNTRIES]
COUNTRY_OFFSET = {c: off for c, off, _ in COUNTRIES}
COUNTRY_SHARE = np.array([w for _, _, w in COUNTRIES]) / sum(w for _, _, w in COUNTRIES)
# Typical spend per category relative to the user's own typical amount.
CATEGORY_AMOUNT_FACTOR = {
    "grocery": 1.3, "restaurants": 0.8, "fashion": 1.6, "electronics": 4.0, "travel": 6.0,
    "digital_goods": 0.4, "fuel": 1.2, "health": 1.0, "entertainment": 0.8, "utilities": 2.0,
    "other": 1.0,
}  # fmt: skip
LEGIT_CATEGORY_BASE = np.array([0.24, 0.20, 0.08, 0.03, 0.02, 0.07, 0.10, 0.06, 0.08, 0.04, 0.08])
FRAUD_CATEGORY = np.array([0.01, 0.01, 0.12, 0.34, 0.12, 0.30, 0.01, 0.01, 0.04, 0.00, 0.04])
ATO_USER_SHARE = 0.08  # users whose card or account is taken over once during the month
NEW_ACCOUNT_FRAUD_SHARE = 0.12  # of accounts opened during the month


@dataclass
class Dataset:
    x: np.ndarray  # float32 [n, 20]
    y: np.ndarray  # int64 [n]
    user: np.ndarray  # int64 [n], for a split that keeps each user on one side
    golden: list[dict]  # a few raw events with their feature vectors, for --golden


class UserStream:
    """Accumulates one user's raw events; `frame` sorts them into stream order."""

    def __init__(self, begin_ms: int, end_ms: int) -> None:
        self.rows: list[tuple] = []
        self.begin_ms, self.end_ms = begin_ms, end_ms

    def add(self, t_ms, amount, country, channel, category, merchant, fraud):
        if not self.begin_ms <= t_ms < self.end_ms:
            return  # before the account was opened or after the simulated month
        self.rows.append(
            (int(t_ms), round(float(amount), 2), country, channel, category, int(merchant), int(fraud))
        )

    def frame(self, created_ms: int) -> dict[str, np.ndarray]:
        rows = sorted(self.rows, key=lambda r: r[0])
        cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
        t = np.array(cols[0], dtype=np.int64)
        return {
            "time_ms": t,
            "amount": np.array(cols[1], dtype=np.float64),
            "country": np.array(cols[2], dtype=object),
            "channel": np.array(cols[3], dtype=object),
            "category": np.array(cols[4], dtype=object),
            "merchant_id": np.array(cols[5], dtype=np.int64),
            "fraud": np.array(cols[6], dtype=np.int64),
            # Whole days since the account was opened, as an event would carry it.
            "account_age_days": np.floor((t - created_ms) / 86_400_000.0),
        }


def simulate(rng: np.random.Generator, n_users: int) -> Dataset:
    sim_end_ms = SIM_START_MS + SIM_DAYS * 86_400_000
    xs, ys, us, golden = [], [], [], []
    profiles = np.random.default_rng(SEED + 1).random(n_users) >= NO_PROFILE_SHARE
    for uid in range(n_users):
        home = COUNTRY_CODES[rng.choice(len(COUNTRIES), p=COUNTRY_SHARE)]
        if rng.random() < 0.85:
            created_ms = SIM_START_MS - int(np.clip(rng.lognormal(math.log(700), 1.0), 30, 5000) * 86_400_000)
        else:  # opened recently, many during the simulated month
            created_ms = SIM_START_MS + int(rng.uniform(-30, SIM_DAYS - 3) * 86_400_000)
        begin_ms = max(SIM_START_MS, created_ms)
        stream = UserStream(begin_ms, sim_end_ms)
        if created_ms > SIM_START_MS and rng.random() < NEW_ACCOUNT_FRAUD_SHARE:
            new_account_fraud(rng, stream, home, begin_ms, sim_end_ms)
        else:
            legit_user(rng, stream, home, begin_ms, sim_end_ms)
            if rng.random() < ATO_USER_SHARE:
                takeover(rng, stream, home, begin_ms, sim_end_ms)
        ev = stream.frame(created_ms)
        if len(ev["time_ms"]) == 0:
            continue
        profile = bool(profiles[uid])
        feats = stream_features(ev, home if profile else None)
        xs.append(feats)
        ys.append(ev["fraud"])
        us.append(np.full(len(feats), uid, dtype=np.int64))
        if want_golden(golden, ev, feats):
            golden.extend(golden_rows(uid, home if profile else None, ev, feats))
    x = np.concatenate(xs).astype(np.float32)
    return Dataset(x=x, y=np.concatenate(ys), user=np.concatenate(us), golden=golden)


def local_to_utc_ms(day_start_ms: int, local_hour: float, country: str) -> int:
    return int(day_start_ms + (local_hour - COUNTRY_OFFSET.get(country, 0.0)) * 3_600_000)


def legit_user(rng, stream: UserStream, home: str, begin_ms: int, end_ms: int) -> None:
    rate = float(np.clip(rng.lognormal(math.log(0.9), 0.6), 0.08, 8.0))  # transactions per day
    typical = rng.lognormal(math.log(35), 0.6)
    spread = rng.uniform(0.45, 0.9)
    # Local activity: morning, lunch, evening peaks; about one user in ten is a night owl.
    peaks = np.array([8.5, 12.5, 19.5, 23.5])
    peak_w = rng.dirichlet([2, 3, 4, 0.6 if rng.random() > 0.1 else 6])
    channel_p = rng.dirichlet(np.array([0.30, 0.35, 0.35]) * 6)
    cat_p = rng.dirichlet(LEGIT_CATEGORY_BASE * 12)
    favourites = {c: rng.integers(0, MERCHANTS_PER_CATEGORY, size=rng.integers(1, 5)) for c in CATEGORIES}
    trip = None
    if rng.random() < 0.2:
        start = rng.uniform(0, SIM_DAYS - 2)
        others = [c for c in COUNTRY_CODES if c != home]
        trip = (start, start + rng.uniform(2, 10), others[rng.integers(len(others))])

    def one(t_ms: int, country: str, channel: str | None = None, category: str | None = None) -> None:
        category = category or CATEGORIES[rng.choice(len(CATEGORIES), p=cat_p)]
        channel = channel or CHANNELS[rng.choice(3, p=channel_p)]
        if channel == "web" and country == home and rng.random() < 0.04:
            country = COUNTRY_CODES[rng.integers(len(COUNTRY_CODES))]  # cross-border online shop
        amount = rng.lognormal(math.log(typical * CATEGORY_AMOUNT_FACTOR[category]), spread)
        ci = CATEGORIES.index(category)
        regular = country == home and rng.random() < 0.8  # abroad, every shop is a new one
        merchant = rng.choice(favourites[category]) if regular else rng.integers(MERCHANTS_PER_CATEGORY)
        stream.add(
            t_ms, max(amount, 0.5), country, channel, category, ci * MERCHANTS_PER_CATEGORY + merchant, 0
        )

    day0 = (begin_ms - SIM_START_MS) // 86_400_000
    for day in range(int(day0), SIM_DAYS):
        day_ms = SIM_START_MS + day * 86_400_000
        abroad = trip is not None and trip[0] <= day <= trip[1]
        country = trip[2] if abroad else home
        if trip is not None and int(trip[0]) - 3 == day:  # booking the trip, online, from home
            one(local_to_utc_ms(day_ms, rng.uniform(9, 22), home), home, "web", "travel")
        weekday_factor = 1.25 if day % 7 in (5, 6) else 0.9
        for _ in range(rng.poisson(rate * weekday_factor * (1.3 if abroad else 1.0))):
            hour = (rng.choice(peaks, p=peak_w) + rng.normal(0, 1.8)) % 24
            t_ms = local_to_utc_ms(day_ms, hour, country) + int(rng.uniform(0, 60_000))
            if not begin_ms <= t_ms < end_ms:
                continue
            if abroad:
                cat = ["restaurants", "travel", "fashion", "other"][rng.choice(4, p=[0.45, 0.2, 0.15, 0.2])]
                one(t_ms, country, "pos" if rng.random() < 0.8 else "mobile", cat)
            else:
                one(t_ms, country)
            # Shopping trips and checkouts: a few more payments within minutes.
            if rng.random() < 0.15:
                for _ in range(rng.integers(1, 4)):
                    t_ms += int(rng.uniform(30, 1200) * 1000)
                    if t_ms < end_ms:
                        one(t_ms, country)


def fraud_burst(rng, stream: UserStream, home: str, start_ms: int, end_ms: int, typical: float) -> None:
    """Several fast payments: higher amounts, risky categories, often foreign and at night."""
    foreign = rng.random() < 0.6
    country = COUNTRY_CODES[rng.integers(len(COUNTRY_CODES))] if foreign else home
    gap_s = rng.uniform(20, 240) if rng.random() < 0.75 else rng.uniform(600, 3600)  # some go slowly
    mimic = rng.random() < 0.2  # some fraudsters keep amounts close to the victim's habits
    t_ms = start_ms
    if rng.random() < 0.3:  # card testing: one or two tiny digital payments first
        for _ in range(rng.integers(1, 3)):
            stream.add(
                t_ms,
                rng.uniform(0.5, 5),
                country,
                "web",
                "digital_goods",
                rng.integers(MERCHANTS_PER_CATEGORY) + 5 * MERCHANTS_PER_CATEGORY,
                1,
            )
            t_ms += int(rng.exponential(gap_s) * 1000) + 1000
    for _ in range(2 + rng.poisson(2.5)):
        if t_ms >= end_ms:
            break
        ci = rng.choice(len(CATEGORIES), p=FRAUD_CATEGORY / FRAUD_CATEGORY.sum())
        category = CATEGORIES[ci]
        base = typical if mimic else max(typical * rng.uniform(2, 6), 60)
        amount = rng.lognormal(math.log(base * math.sqrt(CATEGORY_AMOUNT_FACTOR[category])), 0.6)
        channel = CHANNELS[rng.choice(3, p=[0.6, 0.3, 0.1])]
        merchant = ci * MERCHANTS_PER_CATEGORY + rng.integers(MERCHANTS_PER_CATEGORY)
        stream.add(t_ms, max(amount, 1.0), country, channel, category, merchant, 1)
        t_ms += int(rng.exponential(gap_s) * 1000) + 1000


def fraud_start_ms(rng, home: str, lo_ms: int, hi_ms: int) -> int:
    t = int(rng.uniform(lo_ms, hi_ms))
    if rng.random() < 0.5:  # move to the victim's local night
        day_ms = SIM_START_MS + ((t - SIM_START_MS) // 86_400_000) * 86_400_000
        t = local_to_utc_ms(day_ms, rng.uniform(0, 5), home)
    return t


def takeover(rng, stream: UserStream, home: str, begin_ms: int, end_ms: int) -> None:
    if end_ms - begin_ms < 86_400_000:
        return
    typical = float(np.median([r[1] for r in stream.rows])) if stream.rows else 35.0
    start = fraud_start_ms(rng, home, begin_ms, end_ms - 3_600_000)
    fraud_burst(rng, stream, home, start, end_ms, typical)
    if rng.random() < 0.3:  # the fraudster comes back a few hours later
        fraud_burst(rng, stream, home, start + int(rng.uniform(2, 12) * 3_600_000), end_ms, typical)


def new_account_fraud(rng, stream: UserStream, home: str, begin_ms: int, end_ms: int) -> None:
    """A fraudulent account: a few quiet warm-up payments (never charged back), then a burst."""
    t = begin_ms
    for _ in range(rng.integers(0, 4)):
        t += int(rng.uniform(2, 30) * 3_600_000)
        ci = rng.choice([0, 1, 5, 8])
        stream.add(
            t,
            rng.lognormal(math.log(15), 0.6),
            home,
            CHANNELS[rng.integers(3)],
            CATEGORIES[ci],
            ci * MERCHANTS_PER_CATEGORY + rng.integers(MERCHANTS_PER_CATEGORY),
            0,
        )
    start = fraud_start_ms(rng, home, t + 3_600_000, t + 4 * 86_400_000)
    if start < end_ms:
        fraud_burst(rng, stream, home, start, end_ms, rng.lognormal(math.log(60), 0.5))


def want_golden(golden: list[dict], ev: dict[str, np.ndarray], feats: np.ndarray) -> bool:
    """Two fraud victims and two busy legit users, whole histories short enough to read."""
    if not 5 <= len(feats) <= 30 or feats[:, 2].max() < 2:
        return False
    users = {r["user_id"] for r in golden}
    victims = {r["user_id"] for r in golden if r["is_fraud"]}
    return len(victims) < 2 if ev["fraud"].any() else len(users - victims) < 2


def golden_rows(uid: int, home: str | None, ev: dict[str, np.ndarray], feats: np.ndarray) -> list[dict]:
    rows = []
    for i in range(len(feats)):
        rows.append(
            {
                "user_id": f"u{uid}",
                "home_country": home,
                "event_time_ms": int(ev["time_ms"][i]),
                "amount": float(ev["amount"][i]),
                "account_age_days": int(ev["account_age_days"][i]),
                "country": str(ev["country"][i]),
                "channel": str(ev["channel"][i]),
                "merchant_id": f"m{int(ev['merchant_id'][i])}",
                "merchant_category": str(ev["category"][i]),
                "is_fraud": bool(ev["fraud"][i]),
                "features": [round(float(v), 6) for v in feats[i]],
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Training and export
# ---------------------------------------------------------------------------------------------

OPSET = {"": 17, "ai.onnx.ml": 3}
IR_VERSION = 8  # the IR version that goes with opset 17; every onnxruntime since 1.11 reads it


@dataclass
class ExampleModel:
    name: str
    version: int
    description: str
    estimator: object  # a scikit-learn classifier or pipeline, fitted by build_examples


def example_models(seed: int, skip_mlp: bool) -> list[ExampleModel]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    models = [
        ExampleModel(
            "fraud",
            1,
            "Sluice example fraud classifier v1: StandardScaler + LogisticRegression.",
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=1.0, max_iter=2000))]),
        ),
        ExampleModel(
            "fraud",
            2,
            "Sluice example fraud classifier v2: HistGradientBoostingClassifier, 150 trees of 31 leaves.",
            HistGradientBoostingClassifier(
                max_iter=150,
                learning_rate=0.1,
                max_leaf_nodes=31,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=seed,
            ),
        ),
    ]
    if not skip_mlp:
        # Heavy on purpose (~400k weights): it exists to make batching visible in benchmarks.
        # Eight epochs are enough for it to be as good as the trees; more only costs time.
        mlp = MLPClassifier(
            hidden_layer_sizes=(512, 512, 256),
            alpha=1e-4,
            batch_size=512,
            learning_rate_init=1e-3,
            max_iter=8,
            random_state=seed,
        )
        models.append(
            ExampleModel(
                "fraud-mlp",
                1,
                "Sluice benchmark model: StandardScaler + MLPClassifier (512, 512, 256).",
                Pipeline([("scale", StandardScaler()), ("clf", mlp)]),
            )
        )
    return models


def split_by_user(data: Dataset, seed: int) -> np.ndarray:
    """A mask of held-out rows: a quarter of the users, with all their events, so no user's
    history is on both sides."""
    users = np.unique(data.user)
    held_out = np.random.default_rng(seed).permutation(users)[: len(users) // 4]
    return np.isin(data.user, held_out)


def score(model: ExampleModel, session, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Scores the exported ONNX model (not the scikit-learn object) on held-out rows."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

    label, proba = session.run(["label", "probabilities"], {"features": x})
    return {
        "roc_auc": roc_auc_score(y, proba[:, 1]),
        "avg_precision": average_precision_score(y, proba[:, 1]),
        "precision": precision_score(y, label, zero_division=0),
        "recall": recall_score(y, label),
        "onnx_vs_sklearn": float(np.max(np.abs(proba[:, 1] - model.estimator.predict_proba(x)[:, 1]))),
    }


def to_onnx(model: ExampleModel) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    est = model.estimator
    clf = est.steps[-1][1] if hasattr(est, "steps") else est
    onx = convert_sklearn(
        est,
        name=model.name,
        initial_types=[("features", FloatTensorType([None, len(FEATURE_NAMES)]))],
        final_types=[("label", Int64TensorType([None])), ("probabilities", FloatTensorType([None, 2]))],
        options={id(clf): {"zipmap": False}},
        target_opset=OPSET,
    )
    onx.ir_version = IR_VERSION
    # skl2onnx collects opset imports in a set; sort them so reruns write byte-identical files.
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    onx.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    onx.model_version = model.version
    onx.doc_string = model.description
    set_metadata(
        onx,
        {
            "sluice.inputs": "features: FP32 [batch, 20], layout in examples/models/README.md",
            "sluice.feature_names": json.dumps(FEATURE_NAMES),
            "sluice.outputs": "label: INT64 [batch] (0 legit, 1 fraud); probabilities: FP32 [batch, 2]",
            "sluice.trained_by": "scripts/models/train_models.py",
        },
    )
    name_batch_dims(onx)
    onnx.checker.check_model(onx)
    return onx


def set_metadata(onx: onnx.ModelProto, props: dict[str, str]) -> None:
    del onx.metadata_props[:]
    for key, value in props.items():
        onx.metadata_props.add(key=key, value=value)


def name_batch_dims(onx: onnx.ModelProto) -> None:
    # skl2onnx leaves the batch dimension unnamed; naming it makes every model and fixture report
    # the same symbolic "batch" dimension, which the server maps to -1.
    for value in list(onx.graph.input) + list(onx.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_param = "batch"


def write_model(onx: onnx.ModelProto, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = onx.SerializeToString(deterministic=True)
    path.write_bytes(data)
    return len(data)


FRAUD_CONFIG = """\
# Generated by scripts/models/train_models.py.
# Fraud classifier: version 1 is the logistic regression ("stable"), version 2 the gradient-boosted
# trees ("canary"). Both take features FP32 [batch, 20]; see ../README.md for the layout.
# Up to 1,024 rows per execution: a pipeline draining a backlog sends micro-batches that large,
# at about 0.8 x the consumer CPU and half the sidecar CPU per event of 256-row ones
# (docs/benchmarks.md, "Issue 13: micro-batches across partitions, and larger ones").
max_batch_size: 1024
# No wait for other requests: the pipeline's consumers send micro-batches already, and requests
# that arrive while the instance is busy still run together (a 500 us wait cost every micro-batch
# about 1.4 ms at 2,000 events/s; docs/benchmarks.md, "Issue 13: a quiet morning").
dynamic_batching:
  max_queue_delay_microseconds: 0
  max_queue_size: 4096
version_policy:
  latest:
    num_versions: 2
labels:
  stable: 1
  canary: 2
instance_count: 1
warmup:
  batch_sizes: [1, 32, 256, 1024]
onnxruntime:
  intra_op_threads: 1
  inter_op_threads: 1
"""

FRAUD_MLP_CONFIG = """\
# Generated by scripts/models/train_models.py.
# A deliberately heavy MLP over the same 20 fraud features, for batching benchmarks: per row it
# costs far more than the fraud models, so batching pays off visibly.
max_batch_size: 512
dynamic_batching:
  max_queue_delay_microseconds: 2000
  preferred_batch_sizes: [64, 128, 256, 512]
  max_queue_size: 8192
version_policy:
  latest:
    num_versions: 1
instance_count: 1
warmup:
  batch_sizes: [1, 64, 512]
# One thread per session: on two cores a second onnxruntime thread competes with the gRPC event
# loop, and even alone it made batch 256 slower here (2.4 ms vs 1.7 ms).
onnxruntime:
  intra_op_threads: 1
  inter_op_threads: 1
"""


def build_examples(
    out_root: Path, skip_mlp: bool, golden: Path | None, references_only: bool = False
) -> None:
    import onnxruntime as ort

    started = time.perf_counter()
    data = simulate(np.random.default_rng(SEED), N_USERS)
    print(
        f"dataset: {len(data.y)} transactions from {len(np.unique(data.user))} users over {SIM_DAYS} days, "
        f"fraud rate {data.y.mean():.2%} ({int(data.y.sum())} fraudulent), "
        f"{(data.x[:, 8] == COUNTRY_UNKNOWN).mean():.1%} of them from users without a profile; "
        f"simulated in {time.perf_counter() - started:.0f}s"
    )
    if golden is not None:
        golden.parent.mkdir(parents=True, exist_ok=True)
        doc = {"feature_names": FEATURE_NAMES, "events": data.golden}
        golden.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {len(data.golden)} events with their feature vectors to {golden}")

    test = split_by_user(data, SEED)
    xtr, ytr, xte, yte = data.x[~test], data.y[~test], data.x[test], data.y[test]
    print(
        f"held-out split by user: train {len(ytr)} rows ({ytr.mean():.2%} fraud), "
        f"test {len(yte)} rows ({yte.mean():.2%} fraud); precision/recall are for the label output "
        "(threshold 0.5)"
    )
    repo = out_root / "examples" / "models"
    if references_only:
        write_references(repo, xtr, xte, yte, skip_mlp)
        return
    unknown = xte[:, 8] == COUNTRY_UNKNOWN
    for model in example_models(SEED, skip_mlp):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the MLP stops at max_iter on purpose
            model.estimator.fit(xtr, ytr)
        fit_seconds = time.perf_counter() - started
        path = repo / model.name / str(model.version) / "model.onnx"
        size = write_model(to_onnx(model), path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        m = score(model, session, xte, yte)
        doc = reference_document(model.name, model.version, session, xtr, xte, yte)
        write_reference(doc, path.parent / "reference.json")
        print(
            f"  {model.name + '/' + str(model.version):<12} ROC AUC {m['roc_auc']:.4f}  "
            f"AP {m['avg_precision']:.4f}  precision {m['precision']:.4f}  recall {m['recall']:.4f}"
            f"  | {size / 1024:.0f} KiB, fit {fit_seconds:.0f}s, |onnx - sklearn| {m['onnx_vs_sklearn']:.0e}"
        )
        # The same held-out rows, split by whether the user has a profile.
        for label, rows in (("with a profile", ~unknown), ("without a profile", unknown)):
            p = score(model, session, xte[rows], yte[rows])
            print(
                f"  {'':<12}   {label:<18} ROC AUC {p['roc_auc']:.4f}  AP {p['avg_precision']:.4f}  "
                f"precision {p['precision']:.4f}  recall {p['recall']:.4f}  ({int(rows.sum())} rows, "
                f"{yte[rows].mean():.2%} fraud)"
            )
    (repo / "fraud" / "config.yaml").write_text(FRAUD_CONFIG)
    if not skip_mlp:
        (repo / "fraud-mlp" / "config.yaml").write_text(FRAUD_MLP_CONFIG)


# ---------------------------------------------------------------------------------------------
# Reference distributions (reference.json next to each model version)
# ---------------------------------------------------------------------------------------------

REFERENCE_FORMAT = "sluice.reference/v1"
# Deciles: the usual PSI binning. More bins make PSI noisier on small live windows (its expected
# value without any drift grows with bins / window size), fewer hide shifts inside a bin.
FEATURE_BINS = 10
SCORE_BINS = 10
# Percentiles of the score, for Kolmogorov-Smirnov and Wasserstein: computed from bins, KS is off
# by at most the heaviest bin's mass, so 100 bins keep it within about 0.01.
SCORE_CDF_BINS = 100
# The score is P(class 1); what the consumer reads from `probabilities`.
SCORE_OUTPUT, SCORE_CLASS = "probabilities", 1
# JSON floats: nine significant digits are plenty for proportions and summary figures and keep
# reruns byte-identical (edges are written exactly: they are float32 values of the data).
REFERENCE_DIGITS = 9


def bin_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior edges at the quantiles k/n_bins of `values`, deduplicated.

    Bin i holds (edges[i-1], edges[i]], the first bin everything <= edges[0], the last everything
    above edges[-1]. The quantiles are data points (inverted CDF), so every bin holds at least one
    reference value: edges[i] falls in bin i, and the maximum in the last bin (edges equal to the
    maximum are dropped). A feature with few distinct values (a one-hot, a small count) gets fewer
    bins: one per value at most.
    """
    qs = np.quantile(values, np.arange(1, n_bins) / n_bins, method="inverted_cdf")
    edges = np.unique(qs)
    return edges[edges < values.max()]


def bin_proportions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # side="left": the number of edges strictly below each value, i.e. right-closed bins.
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / len(values)


def exact(values: np.ndarray) -> list[float]:
    """float32 data as the exact float64 values JSON can carry (and TypeScript reads back)."""
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def rounded(value: float) -> float:
    return float(f"{value:.{REFERENCE_DIGITS}g}")


def distribution(values: np.ndarray, n_bins: int) -> dict:
    edges = bin_edges(values, n_bins)
    return {
        "edges": exact(edges),
        "proportions": [rounded(p) for p in bin_proportions(values, edges)],
    }


def reference_document(
    model_name: str, version: int, session, xtr: np.ndarray, xte: np.ndarray, yte: np.ndarray
) -> dict:
    """Features from the training rows (what the model learned from), the score from held-out
    rows: on its own training rows a tree model is more confident than on unseen traffic, and live
    traffic is unseen."""
    from sklearn.metrics import log_loss, precision_score, recall_score, roc_auc_score

    features = []
    for index, name in enumerate(FEATURE_NAMES):
        col = xtr[:, index]
        features.append(
            {
                "name": name,
                "index": index,
                **distribution(col, FEATURE_BINS),
                "mean": rounded(float(col.astype(np.float64).mean())),
                "std": rounded(float(col.astype(np.float64).std())),
                "min": exact([col.min()])[0],
                "max": exact([col.max()])[0],
            }
        )
    label, proba = session.run(["label", SCORE_OUTPUT], {"features": xte})
    score = proba[:, SCORE_CLASS]
    return {
        "format": REFERENCE_FORMAT,
        "model": model_name,
        "version": version,
        "generated_by": "scripts/models/train_models.py",
        "features_rows": int(len(xtr)),
        "features": features,
        "score": {
            "output": SCORE_OUTPUT,
            "class_index": SCORE_CLASS,
            "rows": int(len(score)),
            "domain": [0.0, 1.0],
            **distribution(score, SCORE_BINS),
            "cdf": distribution(score, SCORE_CDF_BINS),
            "mean": rounded(float(score.astype(np.float64).mean())),
        },
        "evaluation": {
            "rows": int(len(yte)),
            "positive_rate": rounded(float(yte.mean())),
            "threshold": 0.5,
            "roc_auc": rounded(roc_auc_score(yte, score)),
            "precision": rounded(precision_score(yte, label, zero_division=0)),
            "recall": rounded(recall_score(yte, label)),
            "log_loss": rounded(log_loss(yte, np.clip(score.astype(np.float64), 1e-15, 1 - 1e-15))),
        },
    }


def write_reference(doc: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def write_references(
    repo: Path, xtr: np.ndarray, xte: np.ndarray, yte: np.ndarray, skip_mlp: bool
) -> None:
    """reference.json for every example model version already on disk, scored by its committed
    model.onnx: the models are read, never rewritten."""
    import onnxruntime as ort

    for model in example_models(SEED, skip_mlp):
        path = repo / model.name / str(model.version) / "model.onnx"
        if not path.is_file():
            print(f"  {model.name}/{model.version}: no {path}, no reference written")
            continue
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        doc = reference_document(model.name, model.version, session, xtr, xte, yte)
        write_reference(doc, path.parent / "reference.json")
        e = doc["evaluation"]
        print(
            f"  {model.name + '/' + str(model.version):<12} reference.json: {len(doc['features'])} features, "
            f"score of {doc['score']['rows']} held-out rows; ROC AUC {e['roc_auc']:.4f}"
        )


# ---------------------------------------------------------------------------------------------
# Protocol test fixtures: tiny graphs built by hand
# ---------------------------------------------------------------------------------------------

IDENTITY_TYPES = {
    "fp32": TensorProto.FLOAT,
    "fp64": TensorProto.DOUBLE,
    "fp16": TensorProto.FLOAT16,
    "int64": TensorProto.INT64,
    "int32": TensorProto.INT32,
    "uint8": TensorProto.UINT8,
    "bool": TensorProto.BOOL,
    "string": TensorProto.STRING,
}


# add-sub ships without a config.yaml on purpose, so the suite also covers the server's defaults.
IDENTITY_CONFIG = """\
# Generated by scripts/models/train_models.py.
max_batch_size: 64
dynamic_batching:
  max_queue_delay_microseconds: 100
"""

SLOW_CONFIG = """\
# Generated by scripts/models/train_models.py.
# 24 layers of relu(y @ W), 64x64: real work per call, so requests queue behind a running batch.
# Rows are independent: a row's output does not depend on the rest of its batch.
max_batch_size: 64
dynamic_batching:
  max_queue_delay_microseconds: 2000
  preferred_batch_sizes: [8, 16, 32, 64]
"""

FIXED_SHAPE_CONFIG = """\
# Generated by scripts/models/train_models.py.
# No batch dimension: requests must send exactly [3, 4].
max_batch_size: 0
"""


def fixture_model(name: str, nodes, inputs, outputs, initializers=(), doc: str = "") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers), doc_string=doc)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET[""])],
        ir_version=IR_VERSION,
        producer_name="sluice-fixtures",
        doc_string=doc,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def build_fixtures(out_root: Path) -> None:
    repo = out_root / "test" / "fixtures" / "models"
    vi = helper.make_tensor_value_info
    fixtures: dict[str, tuple[onnx.ModelProto, str | None]] = {}

    for suffix, elem in IDENTITY_TYPES.items():
        width = 2 if suffix == "string" else 4
        fixtures[f"identity-{suffix}"] = (
            fixture_model(
                f"identity-{suffix}",
                [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
                [vi("INPUT0", elem, ["batch", width])],
                [vi("OUTPUT0", elem, ["batch", width])],
                doc=f"OUTPUT0 = INPUT0, {suffix} [batch, {width}].",
            ),
            IDENTITY_CONFIG,
        )

    fixtures["add-sub"] = (
        fixture_model(
            "add-sub",
            [
                helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
                helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
            ],
            [vi("INPUT0", TensorProto.FLOAT, ["batch", 16]), vi("INPUT1", TensorProto.FLOAT, ["batch", 16])],
            [
                vi("OUTPUT0", TensorProto.FLOAT, ["batch", 16]),
                vi("OUTPUT1", TensorProto.FLOAT, ["batch", 16]),
            ],
            doc="OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, FP32 [batch, 16].",
        ),
        None,
    )

    fixtures["fixed-shape"] = (
        fixture_model(
            "fixed-shape",
            [helper.make_node("Mul", ["INPUT0", "two"], ["OUTPUT0"])],
            [vi("INPUT0", TensorProto.FLOAT, [3, 4])],
            [vi("OUTPUT0", TensorProto.FLOAT, [3, 4])],
            [numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")],
            doc="OUTPUT0 = 2 * INPUT0, FP32 [3, 4], no batch dimension.",
        ),
        FIXED_SHAPE_CONFIG,
    )

    # 24 layers of y = relu(y @ W) with one shared 64x64 W, as the batching, shutdown and hot-swap
    # tests expect (they size their batches for it: 4096 rows take milliseconds). Each row is
    # transformed on its own, so a row's output does not depend on which rows share its batch.
    layers = 24
    rng = np.random.default_rng(SEED)
    w, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    # Scale W so a typical row keeps its length through the 24 ReLUs (outputs about as large as
    # inputs make tolerance checks meaningful). Without a bias the network is positively
    # homogeneous: scaling W by c scales every output by c**24, so one probe calibrates it exactly.
    probe = y = rng.normal(size=(1024, 64))
    for _ in range(layers):
        y = np.maximum(y @ w, 0)
    shrink = np.median(np.linalg.norm(y, axis=1) / np.linalg.norm(probe, axis=1))
    weight = numpy_helper.from_array((w * shrink ** (-1 / layers)).astype(np.float32), "W")
    nodes, prev = [], "INPUT0"
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [prev, "W"], [f"mm{i}"]))
        out = "OUTPUT0" if i == layers - 1 else f"relu{i}"
        nodes.append(helper.make_node("Relu", [f"mm{i}"], [out]))
        prev = out
    fixtures["slow-fp32"] = (
        fixture_model(
            "slow-fp32",
            nodes,
            [vi("INPUT0", TensorProto.FLOAT, ["batch", 64])],
            [vi("OUTPUT0", TensorProto.FLOAT, ["batch", 64])],
            [weight],
            doc=f"OUTPUT0 = {layers} x (y -> relu(y @ W)), W 64x64, row by row, FP32 [batch, 64].",
        ),
        SLOW_CONFIG,
    )

    for name, (model, config) in fixtures.items():
        size = write_model(model, repo / name / "1" / "model.onnx")
        if config is not None:
            (repo / name / "config.yaml").write_text(config)
        print(f"  fixture {name:<16} {size:>6} bytes")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out-root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="where examples/models and test/fixtures/models are written (default: the repository root)",
    )
    parser.add_argument("--skip-mlp", action="store_true", help="do not train the slow fraud-mlp model")
    parser.add_argument("--fixtures-only", action="store_true", help="only rebuild test/fixtures/models")
    parser.add_argument(
        "--references-only",
        action="store_true",
        help="only write reference.json next to the existing example models (they are scored, not retrained)",
    )
    parser.add_argument(
        "--golden", type=Path, help="also write sample events with their feature vectors (JSON) here"
    )
    args = parser.parse_args(argv)
    out_root = args.out_root.resolve()
    if args.references_only:
        build_examples(out_root, args.skip_mlp, args.golden, references_only=True)
        return 0
    print("test fixtures:")
    build_fixtures(out_root)
    if not args.fixtures_only:
        build_examples(out_root, args.skip_mlp, args.golden)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
