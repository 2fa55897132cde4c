"""The model's engine choice (fraudscore/model/engines.py): each engine has its own switch, one gate builds them."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from fraudscore._core import pure_python
from fraudscore.model.engines import BATCH_ENGINE_ENV, SINGLE_ROW_ENV
from fraudscore.model.model import Model


def _model() -> tuple[Model, np.ndarray, lgb.Booster]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=300) > 0.8).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y, feature_name=["a", "b", "c"]),
                  20)
    return Model(b, ["a", "b", "c"]), X, b


def test_each_switch_turns_off_only_its_own_engine(monkeypatch):
    compiled = "lightgbm" if pure_python() else "compiled"
    monkeypatch.setenv(SINGLE_ROW_ENV, "lightgbm")
    m, X, b = _model()
    assert m.prepare_single_row() == "fast"
    assert m.predict_raw(X).tobytes() == b.predict(X).tobytes() and m.batch_path == compiled
    assert m.prepare_explanations() == compiled
    monkeypatch.delenv(SINGLE_ROW_ENV)
    monkeypatch.setenv(BATCH_ENGINE_ENV, "lightgbm")
    m, X, b = _model()
    assert m.prepare_single_row() == ("fast" if pure_python() else "compiled")
    assert m.prepare_explanations() == "lightgbm"
    assert np.array_equal(m.contributions(X[:5]), b.predict(X[:5], pred_contrib=True))


def test_matrices_share_the_single_row_forest():
    m, X, b = _model()
    if m.prepare_single_row() != "compiled":
        return  # pure Python: LightGBM everywhere (the test above covers the switches)
    assert m.predict_raw(X).tobytes() == b.predict(X).tobytes()
    assert m._batch is m._one_forest  # one forest built, not two
