"""Matrices eight rows at a time (``_forest_lanes.h``): ``CompiledForest.predict`` equals the row-by-row walk and
LightGBM bit for bit, at every block and share boundary."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.model.compiled import DISABLE_ENV, CompiledForest, probe_rows
from tests.model.forest_data import booster_zoo, forest_data, same_bits, train_booster

pytestmark = pytest.mark.skipif(os.environ.get(DISABLE_ENV) == "1", reason=f"{DISABLE_ENV}=1")

SPECIAL = [0.0, -0.0, 1e-35, -1e-35, 5e-324, 1.0, -1.0, 2.5, 31.0, 32.0, 1e300, float("inf"), float("-inf"),
           float("nan")]


@pytest.fixture(scope="module")
def zoo() -> dict:
    """Every missing type, categorical splits, one-leaf trees, deep trees, and 1,100 small trees."""
    z = booster_zoo(deep=True)
    X, y = forest_data(seed=3, n=600)
    z["many"] = train_booster({"num_leaves": 4, "learning_rate": 0.01}, X, y, rounds=1100)
    z["mixed_one_leaf"] = train_booster({"num_leaves": 7, "min_data_in_leaf": 40}, X[:60], y[:60], rounds=30)
    return {name: (b, CompiledForest.from_booster(b, shap_tables_mb=0)) for name, b in z.items()}


def _check(b, f, X: np.ndarray) -> None:
    for raw in (False, True):
        want = b.predict(X, raw_score=raw, num_threads=1) if len(X) else np.empty(0)
        rows = f.predict(X, raw=raw, threads=1, by_row=True)
        assert same_bits(rows, want), raw
        for threads in (1, 2, 3):
            assert same_bits(f.predict(X, raw=raw, threads=threads), rows), (raw, threads)


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 63, 64, 65, 129, 600])
def test_lanes_equal_rows_and_lightgbm_at_block_boundaries(zoo, n):
    X, _ = forest_data(seed=11, n=max(n, 1))
    for name, (b, f) in zoo.items():
        rows = np.vstack([X[:, :f.num_features], probe_rows(f.tables, n=64, seed=4)])[:n]
        _check(b, f, np.ascontiguousarray(rows))


value = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.integers(-5, 70).map(float), st.floats(-3, 3))


@settings(max_examples=60)
@given(st.sampled_from(["nan", "none", "zero", "categorical", "sigmoid", "one_leaf", "many", "deep",
                        "mixed_one_leaf"]),
       st.integers(0, 90).flatmap(lambda n: st.lists(st.lists(value, min_size=5, max_size=5), min_size=n,
                                                     max_size=n)),
       st.integers(0, 4), st.sampled_from([-1, 0, 1]))
def test_property_lanes_equal_rows_and_lightgbm(zoo, kind, rows, j, nudge):
    b, f = zoo[kind]
    X = np.array(rows, dtype=np.float64).reshape(len(rows), 5)[:, :f.num_features]
    t = f.tables.nodes
    thr = t["threshold"][((t["decision_type"] & 1) == 0) & (t["feature"] == j)]
    if thr.size and len(X) and j < X.shape[1]:  # every other row at (or one ulp off) a threshold of feature j
        v = thr[np.arange(0, len(X), 2) % thr.size]
        X[::2, j] = v if nudge == 0 else np.nextafter(v, np.inf * nudge)
    _check(b, f, np.ascontiguousarray(X))
