"""``Model.predict_raw_threads`` (fraudscore/model/engines.py) == ``Model.predict_raw``, bit for bit, for any thread
count and any split of the rows, on the compiled forest, on LightGBM and on compiled trees: what lets the batch path
hand row ranges to a worker thread (fraudscore/batchoverlap.py)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.model.engines import BATCH_ENGINE_ENV
from fraudscore.model.model import Model


def _model(seed: int = 4) -> tuple[Model, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(700, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + rng.normal(scale=0.5, size=700) > 0.8).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15}, lgb.Dataset(X, y, feature_name=list("abcd")),
                  40)
    return Model(b, list("abcd")), X


@pytest.mark.parametrize("engine", ["auto", "lightgbm", "compiled trees"])
def test_threads_and_row_splits_give_the_same_doubles(monkeypatch, engine):
    if engine == "lightgbm":
        monkeypatch.setenv(BATCH_ENGINE_ENV, "lightgbm")
    m, X = _model()
    if engine == "compiled trees":
        try:
            m.compile()
        except Exception:  # pragma: no cover - no C compiler: the other engines are covered
            pytest.skip("compiled trees do not build here")
    want = m.predict_raw(X).tobytes()
    for threads in (None, 1, 2, 3):
        assert m.predict_raw_threads(X, threads).tobytes() == want
    for cuts in ([350], [1, 17, 64, 65, 699], [8, 16, 24, 600]):
        parts = [m.predict_raw_threads(X[a:b], 1) for a, b in zip([0, *cuts], [*cuts, len(X)])]
        assert np.concatenate(parts).tobytes() == want
    assert m.predict_raw_threads(X[:0], 1).shape == (0,)


@settings(max_examples=20)
@given(st.lists(st.integers(0, 700), max_size=5), st.sampled_from([None, 1, 2]))
def test_any_row_split(cuts, threads):
    m, X = _model_cached()
    bounds = sorted({0, len(X), *cuts})
    got = np.concatenate([m.predict_raw_threads(X[a:b], threads) for a, b in zip(bounds[:-1], bounds[1:])])
    assert got.tobytes() == m.predict_raw(X).tobytes()


_CACHE: dict[str, tuple[Model, np.ndarray]] = {}


def _model_cached() -> tuple[Model, np.ndarray]:
    if "m" not in _CACHE:
        _CACHE["m"] = _model(7)
    return _CACHE["m"]
