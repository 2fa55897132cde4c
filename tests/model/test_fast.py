"""The single-row fast path equals Booster.predict exactly (NaN included), under threads, with a fallback."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.model import FastPredictor, Model, fast_path_available


def test_fast_path_is_available_here(model):
    assert fast_path_available()
    assert model.inference_path == "fast"


def test_raw_one_equals_booster_predict(data, model):
    X = data[0][:2000]
    batch = model.booster.predict(X)
    one = np.array([model.predict_raw_one(x) for x in X])
    assert np.array_equal(one, batch)  # bit for bit
    assert np.array_equal(model.predict_raw(X), batch)


def test_all_nan_and_partial_nan_rows(model):
    k = model.num_features
    rows = [np.full(k, np.nan), np.where(np.arange(k) % 2 == 0, np.nan, 1.0), np.zeros(k), np.full(k, 1e30)]
    for x in rows:
        assert model.predict_raw_one(x) == float(model.booster.predict(x[None, :])[0])
        assert model.predict_one(x) == float(model.predict_proba(x[None, :])[0])


def test_predict_one_equals_predict_proba_exactly(data, model):
    X = data[0][:2000]
    batch = model.predict_proba(X)
    assert np.array_equal(np.array([model.predict_one(x) for x in X]), batch)
    assert [model.score_one(x) for x in X[:500]] == model.score(X[:500]).tolist()


@settings(deadline=None, max_examples=60)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.just(float("nan"))),
                min_size=20, max_size=20))
def test_property_fast_equals_batch(model, row):
    x = np.array(row)
    assert model.predict_raw_one(x) == float(model.booster.predict(x[None, :])[0])
    assert model.predict_one(x) == float(model.predict_proba(x[None, :])[0])


def test_accepts_lists_and_rejects_wrong_length(model):
    x = [0.5] * model.num_features
    assert model.predict_one(x) == model.predict_one(np.array(x))
    with pytest.raises(ConfigError, match="20 feature values"):
        model.predict_one(x[:-1])
    with pytest.raises(ConfigError, match="20 feature values"):
        model.predict_one(np.zeros((1, 20)))


def test_threads_get_their_own_handles_and_agree(data, model):
    X = data[0][:1600]
    fp = model._fast  # LightGBM's fast path (Model.predict_one may use the compiled forest: single_row_path)
    expected = model.predict_raw(X)
    out = np.full(len(X), -1.0)
    errors: list[BaseException] = []

    def work(part: int) -> None:
        try:
            for _ in range(3):
                for i in range(part, len(X), 8):
                    out[i] = fp.predict_one(X[i])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert np.array_equal(out, expected)
    assert len(model._fast._handles) >= 2  # one FastConfig per thread that predicted


def test_fallback_gives_the_same_results(data, model):
    X = data[0][:300]
    slow = Model(model.booster, model.feature_names, calibrator=model.calibrator, fast=False)
    assert slow.inference_path == "fallback"
    assert np.array_equal([slow.predict_one(x) for x in X], [model.predict_one(x) for x in X])


def test_env_var_disables_fast_path(monkeypatch, model):
    monkeypatch.setenv("FRAUDSCORE_NO_FAST_PREDICT", "1")
    assert FastPredictor(model.booster).mode == "fallback"


def test_fallback_when_symbols_missing(monkeypatch, model):
    import fraudscore.model.fast as fast

    monkeypatch.setattr(fast, "_load_lib", lambda: None)
    fp = fast.FastPredictor(model.booster)
    assert fp.mode == "fallback"
    x = np.zeros(model.num_features)
    assert fp.predict_one(x) == float(model.booster.predict(x[None, :])[0])


def test_raw_kind_matches_raw_score(model):
    fp = FastPredictor(model.booster, kind="raw")
    x = np.linspace(-1, 1, model.num_features)
    assert fp.predict_one(x) == float(model.booster.predict(x[None, :], raw_score=True)[0])
    with pytest.raises(ConfigError):
        FastPredictor(model.booster, kind="leaf")


def test_handles_freed_with_predictor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0).astype(int)), 3)
    fp = FastPredictor(b)
    handles = fp._handles
    fp.predict_one(X[0])
    assert handles
    del fp
    import gc

    gc.collect()
    assert handles == []  # finalizer freed every FastConfig
    assert b.predict(X[:1]).shape == (1,)  # booster still fine
