"""Calibration (scalar = vector = close to sklearn), score scale and threshold choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from fraudscore.errors import ConfigError
from fraudscore.model import Calibrator, Thresholds, choose_thresholds, fit_isotonic, score_scale, score_scale_array


def _fitted(seed: int = 0) -> tuple[Calibrator, IsotonicRegression, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.random(5000)
    y = (rng.random(5000) < raw**3).astype(int)
    reg = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, y)
    return fit_isotonic(raw, y), reg, raw


def test_isotonic_matches_sklearn():
    cal, reg, raw = _fitted()
    grid = np.concatenate([raw[:500], np.linspace(-0.5, 1.5, 1001)])
    assert np.allclose(cal.apply(grid), reg.predict(grid), atol=1e-12)


def test_scalar_equals_vector_bit_for_bit():
    cal, _, raw = _fitted(1)
    grid = np.concatenate([raw, cal.xp, np.nextafter(cal.xp, 2), np.nextafter(cal.xp, -1), [-1.0, 0.0, 1.0, 2.0]])
    vec = cal.apply(grid)
    assert np.array_equal(np.array([cal.apply_one(float(p)) for p in grid]), vec)


@settings(deadline=None, max_examples=100)
@given(st.floats(min_value=-1, max_value=2, allow_nan=False))
def test_property_scalar_equals_vector(p):
    cal, _, _ = _fitted(2)
    assert cal.apply_one(p) == float(cal.apply(np.array([p]))[0])


def test_calibration_round_trip_json():
    cal, _, raw = _fitted(3)
    back = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(back.apply(raw), cal.apply(raw))


def test_calibration_is_monotone_and_bounded():
    cal, _, _ = _fitted(4)
    out = cal.apply(np.linspace(-1, 2, 5001))
    assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1


def test_single_class_gives_identity():
    assert fit_isotonic(np.array([0.1, 0.2]), np.array([0, 0])).is_identity


@pytest.mark.parametrize(
    "xp, fp, match",
    [([0.2, 0.1], [0.0, 0.1], "strictly increasing"), ([0.1, 0.2], [0.5, 0.1], "non-decreasing"),
     ([0.1], [0.1, 0.2], "as many"), ([0.1, 0.2], [0.1, 1.5], r"\[0, 1\]"), ([np.nan], [0.1], "finite")],
)
def test_calibrator_validation(xp, fp, match):
    with pytest.raises(ConfigError, match=match):
        Calibrator(xp, fp)


def test_score_scale_scalar_equals_vector():
    p = np.concatenate([np.linspace(0, 1, 20001), [0.0005, 0.0015, 0.0025, 0.9995, -0.1, 1.1]])
    assert score_scale_array(p).tolist() == [score_scale(float(v)) for v in p]
    assert score_scale(0.0) == 0 and score_scale(1.0) == 1000
    assert np.all(np.diff(score_scale_array(np.linspace(0, 1, 999))) >= 0)


def test_choose_thresholds_bruteforce():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.05).astype(int)
    s = np.clip((rng.normal(300, 150, 4000) + 300 * y).round(), 0, 1000).astype(int)
    t = choose_thresholds(s, y, target_review_rate=0.05, max_fpr=0.01)
    neg = y == 0
    fpr = lambda c: (s[neg] >= c).mean()
    assert fpr(t.decline) <= 0.01
    # no lower observed score would also meet the limit
    lower = [c for c in np.unique(s) if c < t.decline]
    assert all(fpr(c) > 0.01 for c in lower)
    queue = lambda c: ((s >= c) & (s < t.decline)).mean()
    assert queue(t.review) <= 0.05
    assert all(queue(c) > 0.05 for c in np.unique(s) if c < t.review)
    assert t.review in set(np.unique(s)) | {t.decline}


def test_choose_thresholds_never_decline_when_impossible():
    s = np.array([900, 900, 900, 900])
    y = np.array([0, 1, 0, 1])
    t = choose_thresholds(s, y, target_review_rate=1.0, max_fpr=0.0)
    assert t.decline == 1001 and t.review == 900 and t.flagged_recall == 1.0


def test_thresholds_validation_and_round_trip():
    with pytest.raises(ConfigError, match="'decline'"):
        Thresholds(review=600, decline=500)
    with pytest.raises(ConfigError, match="'review'"):
        Thresholds(review=-1, decline=500)
    t = Thresholds(review=300, decline=700, review_rate=0.04)
    d = json.loads(json.dumps(t.to_dict()))
    assert Thresholds.from_dict(d) == t and d["review_precision"] is None


# -- calibration choice: none / Platt / tie-free isotonic ------------------------------------------------
from fraudscore.model.calibration import choose_calibration, fit_isotonic_strict, fit_platt  # noqa: E402
from fraudscore.model.metrics import average_precision  # noqa: E402


def _overconfident(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * m - 3)))).astype(int)
    return 1 / (1 + np.exp(-(m + 1))), y


def test_platt_recovers_the_slope_and_intercept():
    raw, y = _overconfident(20000)
    a, b = fit_platt(raw, y)
    assert a == pytest.approx(1.5, abs=0.1) and b == pytest.approx(-4.5, abs=0.2)  # margin = m + 1
    assert fit_platt(raw, 1 - y) is None  # anti-correlated: no positive slope


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 10_000), st.integers(20, 400), st.floats(0.01, 0.5))
def test_every_method_is_strictly_increasing_and_keeps_the_ranking(seed, n, rate):
    rng = np.random.default_rng(seed)
    raw = rng.beta(0.5, 3.0, n)
    y = (rng.random(n) < np.clip(raw * rate * 4, 0, 1)).astype(int)
    for method in ("none", "platt", "isotonic", "auto"):
        cal = choose_calibration(raw, y, method=method)
        assert cal.is_strict, method
        out = cal.apply(np.sort(raw))
        assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1
        assert len(np.unique(cal.apply(raw))) == len(np.unique(raw)), method  # no new ties
        grid = np.concatenate([raw, cal.xp, [0.0, 1.0]])
        assert np.array_equal(np.array([cal.apply_one(float(p)) for p in grid]), cal.apply(grid))


def test_isotonic_without_ties_keeps_average_precision_that_steps_lose():
    raw, y = _overconfident(4000, seed=1)
    steps = fit_isotonic(raw, y)  # plain isotonic: one value per block
    strict = fit_isotonic_strict(raw, y)
    assert len(np.unique(steps.apply(raw))) < 60 < len(np.unique(strict.apply(raw)))
    assert average_precision(y, strict.apply(raw)) == pytest.approx(average_precision(y, raw), abs=1e-12)
    assert average_precision(y, steps.apply(raw)) < average_precision(y, raw)
    # and it still calibrates: the mean calibrated probability is the fraud rate
    assert strict.apply(raw).mean() == pytest.approx(y.mean(), abs=0.01)


def test_auto_choice_is_recorded_and_round_trips():
    raw, y = _overconfident()
    cal = choose_calibration(raw, y, order=np.arange(raw.size))
    assert cal.method in ("platt", "isotonic")
    sel = cal.selection
    assert set(sel["log_loss"]) == {"none", "platt", "isotonic"} and sel["positives"] == int(y.sum())
    assert sel["log_loss"][cal.method] < sel["log_loss"]["none"]  # over-confident raw scores lose
    back = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back.method == cal.method and back.selection == sel and np.array_equal(back.apply(raw), cal.apply(raw))
    # already calibrated scores: no calibration is needed
    rng = np.random.default_rng(2)
    p = rng.beta(1, 8, 8000)
    assert choose_calibration(p, (rng.random(8000) < p).astype(int)).method == "none"
    with pytest.raises(ConfigError, match="'method'"):
        choose_calibration(raw, y, method="beta")


def test_calibration_files_without_a_method_still_load():
    legacy = {"kind": "piecewise_linear", "x": [0.1, 0.5, 0.9], "y": [0.0, 0.2, 0.7]}
    cal = Calibrator.from_dict(legacy)
    assert cal.method == "isotonic" and cal.to_dict() == legacy  # written back unchanged
    assert Calibrator.from_dict({"kind": "piecewise_linear", "x": [], "y": []}).method == "none"
    with pytest.raises(ConfigError, match="'kind'"):
        Calibrator.from_dict({"kind": "spline", "x": [], "y": []})
