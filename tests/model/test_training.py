"""Training: time split with gap, early stopping, imbalance, determinism, metrics and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscore.errors import ConfigError
from fraudscore.model import TrainConfig, score_scale_array, time_split, train_model

from .conftest import FEATURES, HOUR_MS, make_data


def test_model_learns_the_known_signal(model):
    m = model.metrics
    assert m["roc_auc"] > 0.8
    assert m["average_precision"] > 2 * m["fraud_rate"]
    assert 0 <= m["recall_at_fpr_1pct"] <= m["recall_at_fpr_5pct"] <= 1
    assert 0 <= m["recall_at_top_1pct"] <= m["recall_at_top_5pct"] <= 1
    assert 0 <= m["entity_precision_at_100"] <= 1
    assert m["brier"] < m["fraud_rate"]  # better than always predicting 0
    # the signal features carry the most gain
    gain = dict(zip(model.feature_names, model.booster.feature_importance("gain")))
    top3 = sorted(gain, key=gain.get, reverse=True)[:3]
    assert "distinct__applicant_id__by__device_id__24h" in top3


def test_time_split_respects_the_gap(data, config, model):
    X, y, ts, _ = data
    tr = model.training
    assert tr["train_end_ms"] < tr["valid_start_ms"] - config.gap_ms
    assert tr["n_train"] + tr["n_valid"] + tr["n_gap_dropped"] == len(y)
    gap_rows = (ts >= tr["valid_start_ms"] - config.gap_ms) & (ts < tr["valid_start_ms"])
    assert tr["n_gap_dropped"] == int(gap_rows.sum()) > 0
    assert tr["n_valid"] == int((ts >= tr["valid_start_ms"]).sum())


def test_time_split_unsorted_input():
    ts = np.array([50, 10, 40, 20, 30, 60, 70, 80], dtype=np.int64)
    train, valid, t0 = time_split(ts, 0.25, 15)
    assert t0 == 70
    assert set(ts[valid]) == {70, 80}
    assert set(ts[train]) == {10, 20, 30, 40, 50}  # 60 is in the gap (> 70 - 15)


def test_early_stopping_keeps_best_iteration(model, config):
    best = model.training["best_iteration"]
    assert 1 <= best <= config.num_boost_round
    assert model.booster.num_trees() == best


def test_imbalance_weight_recorded(model):
    tr = model.training
    ratio = (tr["n_train"] - tr["n_fraud_train"]) / tr["n_fraud_train"]
    imb = tr["validation"]["imbalance"]
    assert imb["requested"] == "auto" and set(imb["scores"]) == {"none", "sqrt"}
    # weighting is kept only when it beats no weighting on the validation metric
    assert imb["chosen"] == ("sqrt" if imb["scores"]["sqrt"] > imb["scores"]["none"] else "none") == tr["imbalance"]
    expected = {"sqrt": ratio ** 0.5, "none": 1.0}[imb["chosen"]]
    assert tr["scale_pos_weight"] == pytest.approx(expected)
    assert tr["lgb_params"]["scale_pos_weight"] == pytest.approx(expected)


def test_deterministic_given_seed():
    X, y, ts, _ = make_data(6000, seed=3)
    cfg = TrainConfig(seed=7, num_boost_round=40, early_stopping_rounds=10, learning_rate=0.1, num_leaves=7)
    a = train_model(X, y, ts, FEATURES, cfg)
    b = train_model(X, y, ts, FEATURES, cfg)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.thresholds == b.thresholds


@pytest.mark.parametrize("imbalance", ["none", "sqrt"])
def test_other_imbalance_modes(imbalance):
    X, y, ts, _ = make_data(5000, seed=4)
    cfg = TrainConfig(num_boost_round=30, early_stopping_rounds=10, imbalance=imbalance, calibration="none")
    m = train_model(X, y, ts, FEATURES, cfg)
    assert m.calibrator.is_identity
    assert m.training["scale_pos_weight"] >= 1.0
    if imbalance == "none":
        assert m.training["scale_pos_weight"] == 1.0


def test_calibration_maps_to_observed_rates(data, model):
    X, y, ts, _ = data
    valid = ts >= model.training["valid_start_ms"]
    p = model.predict_proba(X[valid])
    # calibrated on validation: the mean calibrated probability is the fraud rate there
    assert model.calibrator.method == model.training["calibration"] and model.calibrator.method in ("platt", "isotonic")
    assert p.mean() == pytest.approx(y[valid].mean(), abs=2e-3)
    raw = model.predict_raw(X[valid])
    # a strictly increasing map: no ties, the raw ranking is kept
    assert model.calibrator.is_strict and len(np.unique(p)) == len(np.unique(raw))
    if model.training["imbalance"] != "none":
        assert not np.allclose(raw.mean(), y[valid].mean(), atol=0.01)  # weighting inflated the raw ones


def test_thresholds_meet_targets(data, config, model):
    X, y, ts, _ = data
    valid = ts >= model.training["valid_start_ms"]
    t = model.thresholds
    s = score_scale_array(model.predict_proba(X[valid]))
    yv = y[valid]
    assert 0 <= t.review <= t.decline <= 1001
    declined = s >= t.decline
    queue = (s >= t.review) & ~declined
    assert declined[yv == 0].mean() <= config.max_fpr + 1e-12
    assert queue.mean() <= config.target_review_rate + 1e-12
    assert t.decline_fpr == pytest.approx(declined[yv == 0].mean())
    assert t.review_rate == pytest.approx(queue.mean())
    if queue.any():
        assert t.review_precision == pytest.approx(yv[queue].mean())
    assert t.flagged_recall == pytest.approx(yv[s >= t.review].sum() / yv.sum())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"valid_fraction": 0.0},
        {"gap": "-5m"},
        {"gap": "soon"},
        {"imbalance": "smote"},
        {"num_leaves": 1},
        {"learning_rate": 0},
        {"max_fpr": 2.0},
        {"num_threads": 0},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ConfigError, match="parameter of TrainConfig"):
        TrainConfig(**kwargs)


def test_input_validation():
    X, y, ts, _ = make_data(2000, seed=5)
    with pytest.raises(ConfigError, match="feature_names"):
        train_model(X, y, ts, FEATURES[:-1])
    with pytest.raises(ConfigError, match="unique"):
        train_model(X, y, ts, FEATURES[:-1] + FEATURES[:1])
    with pytest.raises(ConfigError, match="'y'"):
        train_model(X, y * 2, ts, FEATURES)
    with pytest.raises(ConfigError, match="'ts'"):
        train_model(X, y, ts.astype(float), FEATURES)
    y2 = y.copy()
    y2[ts >= np.quantile(ts, 0.7)] = 0
    with pytest.raises(ConfigError, match="validation period"):
        train_model(X, y2, ts, FEATURES, TrainConfig(validation="holdout"))
    y3 = y.copy()
    y3[ts >= np.quantile(ts, 0.1)] = 0  # frauds only in the first tenth: no fold can validate
    with pytest.raises(ConfigError, match="validation period must hold both classes"):
        train_model(X, y3, ts, FEATURES)
    with pytest.raises(ConfigError, match="training period"):
        train_model(X, y, ts, FEATURES, TrainConfig(gap=int(200 * 24 * HOUR_MS)))
