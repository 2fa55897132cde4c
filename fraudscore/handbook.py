"""The Fraud Detection Handbook's evaluation protocols, run through fraudscore's public API.

The *Reproducible Machine Learning for Credit Card Fraud Detection* handbook
(Le Borgne et al., ULB / Worldline) publishes a simulated card-transaction set
and two evaluation protocols. This module holds the reusable parts of running
them with fraudscore (``benchmarks/handbook.py`` prints the table,
``docs/handbook.md`` describes it):

* :func:`load_transactions` reads ``raw.csv.gz`` into arrival order, with the
  handbook's two calendar flags as numeric fields;
* :data:`SCHEMA` declares the fields (card and terminal ids are identifier
  fields, pseudonymised before velocity);
* :func:`baseline_feature_set` (the handbook's 12 windows, so 15 model inputs
  with the amount and the flags), :func:`rich_feature_set` (more velocity) and
  :func:`onset_feature_set` (rich plus compromise-onset signals);
* :class:`Split`, :func:`chapter3_split` and :func:`prequential_splits` (the
  chapter-5 test or validation folds);
* :func:`assessment_mask` drops the test transactions of cards already known to be
  compromised, :func:`evaluate_split` computes AUC, AP and CP@100 with the
  handbook's rules; :func:`auc_ceiling` the AUC a perfect detector of every
  visible fraud can expect (:func:`unseen_compromise_mask`);
* :func:`run_split` trains with :func:`fraudscore.train` on one split and
  evaluates it; :func:`features` and :func:`fit_on_features` are the cheaper
  pair used to tune on validation folds (one feature pass, many models).

Time is epoch milliseconds; day numbers count from 2018-04-01 (the handbook's
``TX_TIME_DAYS``).

Examples
--------
>>> s = chapter3_split()
>>> day_name(s.train_start), day_name(s.test_start), s.test_days
('2018-07-25', '2018-08-08', 7)
>>> [day_name(f.test_start) for f in prequential_splits("test")]
['2018-08-29', '2018-08-22', '2018-08-15', '2018-08-08']
>>> [day_name(f.test_start) for f in prequential_splits("valid")]
['2018-07-25', '2018-07-18', '2018-07-11', '2018-07-04']
>>> len(baseline_feature_set()), len(rich_feature_set()) > 12, len(onset_feature_set()) > len(rich_feature_set())
(12, True, True)
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .keys import Keys
from .model import TrainConfig, entity_precision_at_k, known_compromised_by_day, train_model
from .model.metrics import average_precision, roc_auc
from .schema import Field, Schema
from .velocity import FeatureSet, FeatureSpec
from .velocity.defaults import handbook_feature_set

__all__ = [
    "SCHEMA", "DAY_MS", "EPOCH_DAY", "Split", "chapter3_split", "prequential_splits", "day_name", "fdh_dir",
    "load_transactions", "amount_bands", "history_and_labels", "baseline_feature_set", "rich_feature_set",
    "onset_feature_set", "RICH_MODEL",
    "assessment_mask",
    "evaluate_split", "unseen_compromise_mask", "auc_ceiling", "run_split", "features", "fit_on_features",
    "DEFAULT_MODEL", "WARMUP_DAYS",
]

DAY_MS = 86_400_000
#: 2018-04-01T00:00:00Z in epoch days: the handbook's day 0
EPOCH_DAY = 17622
#: label delay of the handbook (days): labels are known a week after the transaction
DELAY_DAYS = 7
#: history before a training period that every window needs (30-day window + 7-day delay, rounded up)
WARMUP_DAYS = 40

SCHEMA = Schema((
    Field("TRANSACTION_ID", "str", required=True, description="transaction id"),
    Field("ts", "timestamp", required=True, description="TX_DATETIME"),
    Field("CUSTOMER_ID", "str", identifier="generic", entity=True, description="card (customer)"),
    Field("TERMINAL_ID", "str", identifier="generic", entity=True, description="terminal"),
    Field("TX_AMOUNT", "float", minimum=0, description="amount"),
    Field("TX_DURING_WEEKEND", "int", minimum=0, maximum=1, description="weekday >= 5"),
    Field("TX_DURING_NIGHT", "int", minimum=0, maximum=1, description="hour <= 6"),
    Field("AMOUNT_BAND", "str", entity=True, description="floor(log2(amount)): the amount's octave"),
    Field("AMOUNT_BAND_HALF", "str", entity=True, description="floor(log2(amount) + 0.5): octaves shifted by half"),
), id_field="TRANSACTION_ID", time_field="ts", allow_extra=False)

#: the previous round's LightGBM settings (one booster, two threads), kept to reproduce its rows
RICH_MODEL: dict[str, Any] = {
    "gap": "0d", "valid_fraction": 0.25, "num_boost_round": 500, "early_stopping_rounds": 60,
    "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "imbalance": "sqrt", "calibration": "none", "metric": "average_precision",
}
#: LightGBM settings chosen on the chapter-5 validation folds (see docs/handbook.md): the previous
#: round's without class weighting, as an ensemble of five boosters, on one thread (results depend
#: on the thread count)
DEFAULT_MODEL: dict[str, Any] = {**RICH_MODEL, "imbalance": "none", "ensemble_size": 5, "num_threads": 1}


def fdh_dir() -> Path:
    """The data directory: ``$FRAUDSCORE_FDH_DIR`` or ``<repo>/../shared/data/fdh``."""
    env = os.environ.get("FRAUDSCORE_FDH_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "fdh"


def day_name(day: int) -> str:
    """ISO date of a handbook day number.

    Examples
    --------
    >>> day_name(0), day_name(183)
    ('2018-04-01', '2018-10-01')
    """
    return (_dt.date(2018, 4, 1) + _dt.timedelta(days=int(day))).isoformat()


def _day(iso: str) -> int:
    return (_dt.date.fromisoformat(iso) - _dt.date(2018, 4, 1)).days


@dataclass(frozen=True)
class Split:
    """One train / delay / test split in handbook day numbers.

    Training covers ``[train_start, train_start + train_days)``, then
    ``delay_days`` of gap, then ``test_days`` of test.
    """

    train_start: int
    train_days: int = 7
    delay_days: int = DELAY_DAYS
    test_days: int = 7

    @property
    def test_start(self) -> int:
        """First test day."""
        return self.train_start + self.train_days + self.delay_days

    @property
    def end(self) -> int:
        """First day after the test period."""
        return self.test_start + self.test_days

    def ms(self, day: int) -> int:
        """Epoch milliseconds of the start of a handbook day."""
        return (EPOCH_DAY + int(day)) * DAY_MS

    @property
    def train_period(self) -> tuple[int, int]:
        """``(start, end)`` of training in epoch ms (for :func:`fraudscore.train`)."""
        return self.ms(self.train_start), self.ms(self.train_start + self.train_days)

    def label(self) -> str:
        """Short description, e.g. ``train 2018-07-25 test 2018-08-08``."""
        return f"train {day_name(self.train_start)} test {day_name(self.test_start)}"


def chapter3_split() -> Split:
    """Chapter 3: train 2018-07-25 .. 07-31, 7-day gap, test 2018-08-08 .. 08-14."""
    return Split(_day("2018-07-25"))


def prequential_splits(kind: str = "test", n_folds: int = 4) -> list[Split]:
    """Chapter 5's prequential folds (7 days train / 7 gap / 7 assessment).

    ``"test"``: training starts 2018-08-15 and steps back 7 days per fold (test
    weeks from 2018-08-29 back to 08-08). ``"valid"``: the validation folds the
    handbook tunes on, ending where the test folds' first training week begins
    (training from 2018-07-11 back; assessment weeks 2018-07-25 back to 07-04).
    """
    if kind not in ("test", "valid"):
        raise ValueError(f"kind must be 'test' or 'valid', got {kind!r}")
    first = _day("2018-08-15") if kind == "test" else _day("2018-07-11")
    return [Split(first - 7 * k) for k in range(n_folds)]


def load_transactions(directory: str | Path | None = None, first_day: int = 0, end_day: int = 183) -> Any:
    """Read ``raw.csv.gz`` rows of days ``[first_day, end_day)`` in arrival order (a pandas DataFrame).

    Columns: the :data:`SCHEMA` fields plus ``TX_FRAUD`` (0/1), ``TX_FRAUD_SCENARIO``
    (the simulator's scenario, 0 genuine, 1..3; never a model input: only
    :func:`unseen_compromise_mask` reads it) and ``day`` (handbook day number).
    Rows are ordered by time, ties in file order.
    """
    import pandas as pd

    path = Path(directory or fdh_dir()) / "raw.csv.gz"
    raw = pd.read_csv(path, usecols=["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
                                     "TX_FRAUD", "TX_FRAUD_SCENARIO"])
    dt = pd.to_datetime(raw["TX_DATETIME"])
    ts = dt.to_numpy().astype("datetime64[ms]").astype(np.int64)
    day = ts // DAY_MS - EPOCH_DAY
    keep = (day >= first_day) & (day < end_day)
    df = pd.DataFrame({
        "TRANSACTION_ID": raw["TRANSACTION_ID"].astype(str).to_numpy(),
        "ts": ts,
        "CUSTOMER_ID": raw["CUSTOMER_ID"].astype(str).to_numpy(),
        "TERMINAL_ID": raw["TERMINAL_ID"].astype(str).to_numpy(),
        "TX_AMOUNT": raw["TX_AMOUNT"].to_numpy(dtype=np.float64),
        "TX_DURING_WEEKEND": (dt.dt.day_of_week >= 5).astype(np.int64).to_numpy(),
        "TX_DURING_NIGHT": (dt.dt.hour <= 6).astype(np.int64).to_numpy(),
        **amount_bands(raw["TX_AMOUNT"].to_numpy(dtype=np.float64)),
        "TX_FRAUD": raw["TX_FRAUD"].to_numpy(dtype=np.int64),
        "TX_FRAUD_SCENARIO": raw["TX_FRAUD_SCENARIO"].to_numpy(dtype=np.int64),
        "day": day,
    })[keep]
    return df.iloc[np.argsort(df["ts"].to_numpy(), kind="stable")].reset_index(drop=True)


def amount_bands(amount: np.ndarray) -> dict[str, np.ndarray]:
    """The two amount-band fields of each transaction (octaves of the amount, and octaves shifted by half).

    A row-local transform, like the calendar flags; as composite velocity keys
    with the card they count how often the card spent in the same band before.

    Examples
    --------
    >>> {k: v.tolist() for k, v in amount_bands(np.array([0.0, 3.0, 100.0])).items()}
    {'AMOUNT_BAND': ['-7', '1', '6'], 'AMOUNT_BAND_HALF': ['-7', '2', '7']}
    """
    lg = np.log2(np.maximum(np.asarray(amount, dtype=np.float64), 0.01))
    return {"AMOUNT_BAND": np.floor(lg).astype(np.int64).astype(str).astype(object),
            "AMOUNT_BAND_HALF": np.floor(lg + 0.5).astype(np.int64).astype(str).astype(object)}


def history_and_labels(df: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The history columns (schema fields) and the labels table, each label known 7 days after its transaction."""
    hist = {f.name: df[f.name].to_numpy() for f in SCHEMA.fields}
    hist["TRANSACTION_ID"] = hist["TRANSACTION_ID"].astype(object)
    for k in ("CUSTOMER_ID", "TERMINAL_ID", "AMOUNT_BAND", "AMOUNT_BAND_HALF"):
        hist[k] = hist[k].astype(object)
    labels = {"application_id": hist["TRANSACTION_ID"], "is_fraud": df["TX_FRAUD"].to_numpy(dtype=np.float64),
              "label_ts": df["ts"].to_numpy(dtype=np.int64) + DELAY_DAYS * DAY_MS}
    return hist, labels


def baseline_feature_set() -> FeatureSet:
    """The handbook's 12 windowed features (:func:`fraudscore.velocity.defaults.handbook_feature_set`)."""
    return handbook_feature_set()


def rich_feature_set() -> FeatureSet:
    """The handbook's 12 windows plus more of fraudscore's velocity features.

    Customer (card): amount max / min / sum over 1, 7 and 30 days, mean amount
    over 1 hour and 90 days, the 30-day mean *before* the last 14 days (a
    baseline a leaked card cannot move), time since the last transaction,
    distinct terminals over 1 and 7 days, and label-delayed fraud counts.
    Terminal: counts over 1 hour and 1 day (undelayed), label-delayed fraud
    rates over 2, 3, 14 and 60 days and counts over 1, 7 and 30 days, time
    since its last transaction, distinct customers and mean amount over 7 days. Card
    and amount band (:func:`amount_bands`): how often the card spent in the
    same band over 30 days (also before the last 14 days) and 90 days.
    """
    S = FeatureSpec
    specs = list(handbook_feature_set().specs)
    c, t, amt = "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"
    for w in ("1d", "7d", "30d"):
        specs.append(S("max", key=c, field=amt, window=w))
        specs.append(S("sum", key=c, field=amt, window=w))
    specs += [
        S("min", key=c, field=amt, window="7d"),
        S("mean", key=c, field=amt, window="1h"),
        S("mean", key=c, field=amt, window="90d"),
        S("mean", key=c, field=amt, window="30d", delay="14d"),
        S("max", key=c, field=amt, window="30d", delay="14d"),
        S("count", key=c, window="30d", delay="14d"),
        S("time_since_last", key=c),
        S("distinct", key=c, of=t, window="1d"),
        S("distinct", key=c, of=t, window="7d"),
        S("fraud_count", key=c, window="30d", delay="7d"),
        S("count", key=t, window="1h"),
        S("count", key=t, window="1d"),
        S("time_since_last", key=t),
        S("distinct", key=t, of=c, window="7d"),
        S("mean", key=t, field=amt, window="7d"),
        S("count", key=(c, "AMOUNT_BAND"), window="30d", delay="14d"),
        S("count", key=(c, "AMOUNT_BAND_HALF"), window="30d", delay="14d"),
        S("count", key=(c, "AMOUNT_BAND"), window="30d", include_current=False),
        S("count", key=(c, "AMOUNT_BAND_HALF"), window="30d", include_current=False),
        S("count", key=(c, "AMOUNT_BAND"), window="90d", include_current=False),
    ]
    for w in ("2d", "3d", "14d", "60d"):
        specs.append(S("fraud_rate", key=t, window=w, delay="7d"))
    for w in ("1d", "7d", "30d"):
        specs.append(S("fraud_count", key=t, window=w, delay="7d"))
    return FeatureSet(specs, allowed_lateness=0)


def onset_feature_set() -> FeatureSet:
    """:func:`rich_feature_set` plus compromise-onset signals, before and after labels arrive.

    Before labels (a leaked card's amounts change against its own history):
    the amount over the card's own mean amount (``ratio_to_mean``) over 1, 7,
    30 and 90 days and over 30 days before the last 14 (a baseline a leak
    cannot have moved yet), and the amount over the terminal's 30-day mean.
    After labels (when did a terminal's compromise start, is it still going
    on): the terminal's label-delayed fraud counts over 2, 14 and 21 days, over
    the 7 days before the last 21 and the 30 days before the last 28, and the
    card's fraud count over 7 days. Everything through FeatureSpecs, so the
    same definitions serve ``score``, ``score_batch`` and training.
    """
    S = FeatureSpec
    c, t, amt = "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"
    specs = list(rich_feature_set().specs)
    specs += [S("ratio_to_mean", key=c, field=amt, window=w) for w in ("1d", "7d", "30d", "90d")]
    specs += [S("ratio_to_mean", key=c, field=amt, window="30d", delay="14d"),
              S("ratio_to_mean", key=t, field=amt, window="30d")]
    specs += [S("fraud_count", key=t, window=w, delay="7d") for w in ("2d", "14d", "21d")]
    specs += [S("fraud_count", key=t, window="7d", delay="21d"), S("fraud_count", key=t, window="30d", delay="28d"),
              S("fraud_count", key=c, window="7d", delay="7d")]
    return FeatureSet(specs, allowed_lateness=0)


def assessment_mask(df: Any, split: Split) -> tuple[np.ndarray, dict[int, set[Any]]]:
    """Test rows of a split, without the transactions of cards already known to be compromised.

    On test day ``D`` a card is known when it had a fraud between the start of
    training and the end of day ``D - 8`` (the training week, then each gap
    day as its labels arrive), as in the handbook. Returns the row mask and the
    known cards per test day.
    """
    day = df["day"].to_numpy()
    hist = (day >= split.train_start) & (day < split.end)
    test_days = range(split.test_start, split.end)
    known = known_compromised_by_day(df["CUSTOMER_ID"].to_numpy()[hist], df["TX_FRAUD"].to_numpy()[hist],
                                     day[hist], test_days, delay_days=DELAY_DAYS)
    mask = (day >= split.test_start) & (day < split.end)
    cust = df["CUSTOMER_ID"].to_numpy()
    for d in test_days:
        rows = np.flatnonzero(day == d)
        if known[d]:
            mask[rows[np.isin(cust[rows], list(known[d]))]] = False
    return mask, known


def evaluate_split(df: Any, split: Split, scores: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """AUC, AP and CP@100 of ``scores`` (one per row of ``df``) on the split's test rows.

    CP@100: each test day, the 100 cards with the highest transaction score
    among the remaining test rows; cards detected on an earlier test day are
    dropped (:func:`fraudscore.model.entity_precision_at_k`). When ``df`` has the
    simulator's ``TX_FRAUD_SCENARIO``, also the AUC decomposition: ``auc_seen``
    (without the unseen frauds, :func:`unseen_compromise_mask`: the part a model
    can change), ``auc_unseen`` (the unseen frauds against the genuine rows: a coin
    flip for any model), ``n_unseen`` and ``auc_ceiling`` (:func:`auc_ceiling`).
    """
    if mask is None:
        mask, _ = assessment_mask(df, split)
    y = df["TX_FRAUD"].to_numpy()[mask]
    s = np.asarray(scores, dtype=np.float64)[mask]
    cards = df["CUSTOMER_ID"].to_numpy()[mask]
    days = df["day"].to_numpy()[mask]
    out = {"split": split.label(), "n_test": int(mask.sum()), "n_fraud": int(y.sum()),
           "auc": roc_auc(y, s), "ap": average_precision(y, s),
           "cp100": entity_precision_at_k(y, s, cards, days, k=100)}
    if "TX_FRAUD_SCENARIO" in getattr(df, "columns", ()):
        unseen_all = unseen_compromise_mask(df)
        unseen = unseen_all[mask]
        seen = ~unseen
        out.update({k: v for k, v in auc_ceiling(df, split, mask, unseen=unseen_all).items() if k != "split"})
        out["auc_seen"] = roc_auc(y[seen], s[seen])
        out["auc_unseen"] = roc_auc(y[unseen | (y == 0)], s[unseen | (y == 0)]) if unseen.any() else float("nan")
    return out


def unseen_compromise_mask(df: Any, delay_days: int = DELAY_DAYS, episode_days: int = 28) -> np.ndarray:
    """Frauds no model can see: a compromised terminal's frauds before any of its frauds' labels are known.

    In the handbook's simulator a compromised terminal (scenario 2) keeps its
    traffic unchanged; only its labels give it away, ``delay_days`` after each
    transaction. A scenario-2 fraud at time ``t`` is *unseen* when its terminal
    had no scenario-2 fraud in ``(t - delay_days - episode_days, t - delay_days]``
    (no label of a compromise known yet; the other scenarios' frauds hit random
    terminals and say nothing about a compromise). Needs ``df["TX_FRAUD_SCENARIO"]``
    (:func:`load_transactions`). Used for :func:`auc_ceiling`, never as a feature.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"ts": np.array([0, 2, 9, 9], dtype=np.int64) * DAY_MS, "TERMINAL_ID": ["a", "a", "a", "b"],
    ...                   "TX_FRAUD": [1, 1, 1, 0], "TX_FRAUD_SCENARIO": [2, 2, 2, 0]})
    >>> unseen_compromise_mask(d).tolist()
    [True, True, False, False]
    """
    ts = df["ts"].to_numpy(dtype=np.int64)
    term = df["TERMINAL_ID"].to_numpy()
    s2 = (df["TX_FRAUD_SCENARIO"].to_numpy() == 2) & (df["TX_FRAUD"].to_numpy() == 1)
    out = np.zeros(len(ts), dtype=bool)
    lo_ms, hi_ms = (delay_days + episode_days) * DAY_MS, delay_days * DAY_MS
    f_idx = np.flatnonzero(s2)
    order = np.lexsort((ts[f_idx], term[f_idx].astype(str)))
    f_term, f_ts = term[f_idx][order].astype(str), ts[f_idx][order]
    starts = {k: i for i, k in reversed(list(enumerate(f_term)))}
    ends = {k: i + 1 for i, k in enumerate(f_term)}
    for i in np.flatnonzero(s2):
        k = str(term[i])
        a = f_ts[starts[k]:ends[k]]
        lo, hi = np.searchsorted(a, ts[i] - lo_ms, side="right"), np.searchsorted(a, ts[i] - hi_ms, side="right")
        out[i] = hi <= lo
    return out


def auc_ceiling(df: Any, split: Split, mask: np.ndarray | None = None,
                unseen: np.ndarray | None = None) -> dict[str, Any]:
    """The ROC AUC a perfect detector of every visible fraud can expect on a split's test rows.

    Unseen frauds (:func:`unseen_compromise_mask`) look exactly like genuine
    transactions, so any scorer ranks them, in expectation, like a random
    genuine one (AUC 0.5 against the genuine rows); ranking every other fraud
    first gives ``1 - share_unseen / 2``.
    """
    if mask is None:
        mask, _ = assessment_mask(df, split)
    if unseen is None:
        unseen = unseen_compromise_mask(df)
    y = df["TX_FRAUD"].to_numpy()[mask]
    n_unseen = int(unseen[mask].sum())
    return {"split": split.label(), "n_fraud": int(y.sum()), "n_unseen": n_unseen,
            "auc_ceiling": 1.0 - 0.5 * n_unseen / max(int(y.sum()), 1)}


def features(df: Any, feature_set: FeatureSet, key: Keys | bytes | str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Point-in-time model inputs for every row of ``df`` (one pass of the batch pipeline).

    The same features :func:`fraudscore.train` and ``Scorer.score_batch``
    compute; returns the matrix and the feature names.
    """
    from .bundle import Bundle
    from .fingerprint import SCHEME_VERSION
    from .policy import Policy
    from .rules import RuleSet
    from .scorer import Scorer

    keys = Keys.resolve(key)
    proto = Bundle(model=None, schema=SCHEMA.to_dict(), features=feature_set.to_dict(),
                   rules_toml=RuleSet([]).to_toml(), lists={},
                   fingerprint={"scheme_version": int(SCHEME_VERSION), "key_id": keys.key_id},
                   policy=Policy().to_dict(), training={}, metadata={})
    hist, labels = history_and_labels(df)
    scorer = Scorer(proto, keys)
    cb, _rec, X = scorer.features_batch(hist, labels)
    if cb.n != len(df):
        raise ValueError(f"{len(df) - cb.n} rows were rejected by the schema")
    return X, scorer.pipeline.feature_names


def fit_on_features(df: Any, X: np.ndarray, names: tuple[str, ...], split: Split,
                    model: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """Train on the split's training rows of a precomputed ``X`` and evaluate its test rows.

    The cheap path for tuning (:func:`fraudscore.model.train_model`, the model
    step of :func:`fraudscore.train`, on :func:`features` output).
    """
    cfg = TrainConfig(**{**DEFAULT_MODEL, **(model or {}), "seed": seed})
    day = df["day"].to_numpy()
    tr = (day >= split.train_start) & (day < split.train_start + split.train_days)
    m = train_model(X[tr], df["TX_FRAUD"].to_numpy()[tr], df["ts"].to_numpy()[tr], names, cfg)
    mask, _ = assessment_mask(df, split)
    scores = np.full(len(df), np.nan)
    scores[mask] = m.predict_proba(X[mask])
    out = evaluate_split(df, split, scores, mask)
    out["best_iteration"] = m.training["best_iteration"]
    return out


def run_split(df: Any, split: Split, feature_set: FeatureSet, *, key: Keys | bytes | str,
              model: dict[str, Any] | None = None, seed: int = 0, warmup_days: int = WARMUP_DAYS) -> dict[str, Any]:
    """Train with :func:`fraudscore.train` on one split and evaluate its test rows.

    The history given to ``train`` is every row of ``df`` from ``warmup_days``
    days (default :data:`WARMUP_DAYS`) before training to the end of the test week (windows warm up; labels feed
    the label-delayed features 7 days after each transaction); the model sees
    only the training week (``train_period``). Test rows are scored with the
    trained bundle's model on the point-in-time features ``train`` computed.
    """
    from .train import train

    day = df["day"].to_numpy()
    sub = df[(day >= split.train_start - warmup_days) & (day < split.end)].reset_index(drop=True)
    hist, labels = history_and_labels(sub)
    cfg = {**DEFAULT_MODEL, **(model or {}), "seed": seed}
    res = train(hist, labels, key=key, config={"model": cfg}, schema=SCHEMA, feature_set=feature_set,
                rules=_no_rules(), exclude_features=[], train_period=split.train_period, entity_field="CUSTOMER_ID")
    if len(res.y) != len(sub):
        raise ValueError(f"{len(sub) - len(res.y)} rows were rejected by the schema")
    mask, _ = assessment_mask(sub, split)
    scores = np.full(len(sub), np.nan)
    scores[mask] = res.bundle.model.predict_proba(res.X[mask])
    out = evaluate_split(sub, split, scores, mask)
    out["best_iteration"] = res.bundle.model.training["best_iteration"]
    out["n_features"] = len(res.feature_names)
    return out


def _no_rules() -> Any:
    from .rules import RuleSet

    return RuleSet([])
