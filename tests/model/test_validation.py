"""Validation that cannot silently collapse: thin holdouts fall back to rolling folds, minimum rounds, warnings."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from fraudscore.bundle import Bundle
from fraudscore.errors import FraudscoreWarning
from fraudscore.model import TrainConfig, train_model
from fraudscore.model.validation import holdout, rolling_folds

DAY = 86_400_000
T0 = 1_767_225_600_000
NAMES = ["signal", "weak", "noise"]


def episodes(n: int = 6000, seed: int = 0, sizes=(40, 30, 35, 25, 3), at=(0.1, 0.3, 0.45, 0.6, 0.85)):
    """Rows over 60 days; frauds only in a few short episodes; the last quarter holds the 3-fraud one."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, 60 * DAY, n))
    y = np.zeros(n, dtype=int)
    for size, a in zip(sizes, at):
        start = np.searchsorted(ts, T0 + int(a * 60 * DAY))
        y[rng.choice(np.arange(start, min(n, start + 150)), size=size, replace=False)] = 1
    X = rng.normal(size=(n, 3))
    X[:, 0] += 2.2 * y
    X[:, 1] += 0.5 * y
    return X, y, ts


CFG = dict(num_boost_round=60, early_stopping_rounds=10, learning_rate=0.1, num_leaves=7, min_data_in_leaf=20,
           gap="1d", min_boost_rounds=20, num_threads=1)


@pytest.fixture(scope="module")
def fallback_model():
    X, y, ts = episodes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = train_model(X, y, ts, NAMES, TrainConfig(**CFG))
    return X, y, ts, model, caught


def test_thin_holdout_falls_back_to_rolling_folds(fallback_model):
    X, y, ts, model, _ = fallback_model
    v = model.training["validation"]
    assert v["strategy"] == "time_series_cv" and v["requested"] == "auto"
    assert v["holdout_positives"] < 30 and "only" in v["reason"]
    assert len(v["folds"]) >= 2 and all(f["valid_positives"] > 0 for f in v["folds"])
    assert v["held_out_positives"] == sum(f["valid_positives"] for f in v["folds"]) > v["holdout_positives"]
    assert v["final_model_rows"] == "all" and model.training["n_train"] == len(y)
    assert CFG["min_boost_rounds"] <= model.training["best_iteration"] == model.booster.num_trees()
    assert model.metrics["roc_auc"] > 0.9  # the signal is found; out-of-fold metrics


def test_validation_choice_reaches_the_bundle_metadata(fallback_model):
    model = fallback_model[3]
    files = Bundle(model=model).to_files(key=b"validation-test-secret-0123456789")
    manifest = __import__("json").loads(files["manifest.json"])
    assert manifest["training"]["validation"]["strategy"] == "time_series_cv"
    assert manifest["training"]["calibration"] == model.calibrator.method


def test_requested_thin_holdout_warns_and_logs(caplog):
    X, y, ts = episodes(seed=1)
    with caplog.at_level(logging.WARNING, logger="fraudscore"), pytest.warns(FraudscoreWarning, match="holds only"):
        model = train_model(X, y, ts, NAMES, TrainConfig(**CFG, validation="holdout"))
    assert model.training["validation"]["strategy"] == "holdout"
    assert model.training["validation"]["warnings"]
    assert any("holds only" in r.getMessage() and r.name.startswith("fraudscore") for r in caplog.records)
    # early stopping on a handful of frauds still keeps at least min_boost_rounds trees
    assert model.training["best_iteration"] >= CFG["min_boost_rounds"]


def test_enough_frauds_keep_the_holdout_without_warning():
    X, y, ts = episodes(seed=2, sizes=(40, 30, 35, 25, 60), at=(0.1, 0.3, 0.45, 0.6, 0.85))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FraudscoreWarning)
        model = train_model(X, y, ts, NAMES, TrainConfig(**CFG))
    assert model.training["validation"]["strategy"] == "holdout"
    assert model.training["validation"]["final_model_rows"] == "train"


def test_min_boost_rounds_is_capped_at_num_boost_round():
    X, y, ts = episodes(seed=3, sizes=(40, 30, 35, 25, 60))
    model = train_model(X, y, ts, NAMES, TrainConfig(**{**CFG, "num_boost_round": 8, "min_boost_rounds": 50}))
    assert model.training["best_iteration"] == 8 == model.training["validation"]["min_boost_rounds"]


def test_requested_cv_and_explicit_imbalance():
    X, y, ts = episodes(seed=4, sizes=(40, 30, 35, 25, 60))
    model = train_model(X, y, ts, NAMES, TrainConfig(**CFG, validation="cv", imbalance="none", calibration="platt"))
    v = model.training["validation"]
    assert v["strategy"] == "time_series_cv" and v["reason"] == "requested"
    assert v["imbalance"] == {"requested": "none", "chosen": "none", "scores": {"none": v["score"]},
                              "best_iterations": {"none": model.training["best_iteration"]}}
    assert model.calibrator.method == "platt" and model.training["scale_pos_weight"] == 1.0


def test_rolling_folds_respect_time_and_gap():
    rng = np.random.default_rng(5)
    ts = np.sort(rng.integers(0, 100, 400)).astype(np.int64)
    y = (rng.random(400) < 0.1).astype(int)
    folds = rolling_folds(ts, y, 4, gap_ms=5)
    assert 1 <= len(folds) <= 4
    for a, b in zip(folds, folds[1:]):
        assert ts[a.valid].max() < ts[b.valid].min()
    for f in folds:
        assert ts[f.train].max() < f.valid_start_ms - 5 and ts[f.valid].min() == f.valid_start_ms
        assert y[f.valid].sum() > 0 and y[f.train].sum() >= 2
        assert np.all(np.diff(ts[f.train]) >= 0) and np.all(np.diff(ts[f.valid]) >= 0)
    h = holdout(ts, 0.25, 5)
    assert ts[h.train].max() < h.valid_start_ms - 5 and (ts >= h.valid_start_ms).sum() == h.valid.size
