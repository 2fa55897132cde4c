"""The compiled forest's single-row layout (``_forest_row.h``): ``predict_one`` equals LightGBM bit for bit."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore._core import pure_python
from fraudscore.model import Model
from fraudscore.model.calibration import Calibrator
from fraudscore.model.compiled import DISABLE_ENV, CompiledForest, ForestTables, NODE_DTYPE, probe_rows
from tests.model.forest_data import booster_zoo, forest_data, same_bits, train_booster

pytestmark = pytest.mark.skipif(os.environ.get(DISABLE_ENV) == "1", reason=f"{DISABLE_ENV}=1")

SPECIAL = [0.0, -0.0, 1e-35, -1e-35, 1.0000000180025095e-35, 5e-324, -5e-324, 1.0, -1.0, 2.5, 31.0, 32.0, 63.0,
           1e300, -1e300, float("inf"), float("-inf"), float("nan")]


@pytest.fixture(scope="module")
def zoo() -> dict:
    """Boosters of every missing type, categorical splits, one-leaf trees, deep trees, and 1,100 small trees
    (more than the 1,024 leaf values the walk keeps on the stack)."""
    z = booster_zoo(deep=True)
    X, y = forest_data(seed=3, n=600)
    z["many"] = train_booster({"num_leaves": 4, "learning_rate": 0.01}, X, y, rounds=1100)
    return {name: (b, CompiledForest.from_booster(b, shap_tables_mb=0)) for name, b in z.items()}


def test_every_model_uses_the_layout_and_agrees_with_lightgbm(zoo):
    X, _ = forest_data(seed=5, n=400)
    for name, (b, f) in zoo.items():
        assert f._forest.row_bytes > 0, name
        rows = np.vstack([X[:, :f.num_features], probe_rows(f.tables, n=128, seed=2)])
        for fn, raw in ((f.predict_one, False), (f.predict_raw_one, True)):
            got = [fn(x) for x in rows]
            assert same_bits(got, b.predict(rows, raw_score=raw, num_threads=1)), (name, raw)
        assert same_bits([f._forest.predict_one(x) for x in rows], [f._forest.predict_one_tables(x) for x in rows])
        assert same_bits([f._forest.predict_raw_one(x) for x in rows],
                         [f._forest.predict_raw_one_tables(x) for x in rows])
        for raw in (False, True):  # matrices: the layout row after row, the tables in blocks of rows; 1 or 3 threads
            want = b.predict(rows, raw_score=raw, num_threads=1)
            assert same_bits(f.predict(rows, raw=raw), want), (name, raw)
            assert same_bits(f.predict(rows, raw=raw, threads=3), want), (name, raw)
            assert same_bits(f.predict(rows, raw=raw, tables=True), want), (name, raw)


value = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.integers(-5, 70).map(float), st.floats(-3, 3))


@settings(max_examples=120)
@given(st.sampled_from(["nan", "none", "zero", "categorical", "sigmoid", "one_leaf", "many"]),
       st.lists(value, min_size=5, max_size=5), st.integers(0, 4), st.sampled_from([-1, 0, 1]))
def test_property_layout_equals_booster_raw_and_calibrated(zoo, kind, row, j, nudge):
    b, f = zoo[kind]
    x = np.array(row, dtype=np.float64)
    t = f.tables.nodes
    thr = t["threshold"][((t["decision_type"] & 1) == 0) & (t["feature"] == j)]
    if thr.size:  # one value at (or one ulp off) a threshold of its feature
        v = thr[len(row) % thr.size]
        x[j] = v if nudge == 0 else np.nextafter(v, np.inf * nudge)
    X = x[None, :]
    assert same_bits([f.predict_one(x)], b.predict(X, num_threads=1))
    assert same_bits([f.predict_raw_one(x)], b.predict(X, raw_score=True, num_threads=1))
    assert same_bits([f.predict_one(list(x))], b.predict(X, num_threads=1))  # the sequence input too
    assert same_bits(f.predict(X), b.predict(X, num_threads=1))  # a matrix: the same layout
    assert same_bits(f.predict(X, raw=True, tables=True), b.predict(X, raw_score=True, num_threads=1))


def test_calibrated_model_predict_one_equals_booster_then_calibration():
    X, y = forest_data(seed=7, n=800)
    names = [f"f{i}" for i in range(X.shape[1])]
    b = train_booster({"num_leaves": 31}, X, y, rounds=60, feature_name=names)
    cal = Calibrator([0.0, 0.1, 0.3, 1.0], [0.0, 0.2, 0.5, 1.0])
    m = Model(b, names, calibrator=cal, compiled=True)
    plain = Model(b, names, calibrator=cal)
    assert m.inference_path == "compiled" and plain.inference_path == "fast"
    ref = cal.apply(b.predict(X, num_threads=1))
    assert same_bits([m.predict_one(x) for x in X], ref)
    assert same_bits([plain.predict_one(x) for x in X], ref)


def _chain(n: int) -> ForestTables:
    """One tree: node i sends x[0] <= i left to node i + 1 and the rest right to leaf i; the last node's left
    child is leaf n. Its root's right child is 2 n slots away in the layout: more than an int16 offset."""
    nodes = np.zeros(n, dtype=NODE_DTYPE)
    nodes["threshold"] = np.arange(n, 0, -1, dtype=np.float64)
    nodes["left"] = np.arange(1, n + 1)
    nodes["left"][-1] = ~n
    nodes["right"] = ~np.arange(n)
    nodes["decision_type"] = 0
    leaves = np.arange(n + 1, dtype=np.float64) * 0.5
    return ForestTables(nodes, leaves, np.array([0], dtype=np.int32), np.zeros(0, dtype=np.uint32), 1, 1.0)


def test_a_tree_the_layout_cannot_hold_keeps_the_table_walk():
    f = CompiledForest(_chain(20_000))
    assert f._forest.row_bytes == 0
    small = CompiledForest(_chain(100))
    assert small._forest.row_bytes > 0
    for forest, n in ((f, 20_000), (small, 100)):
        for v in (0.5, 3.0, 50.5, float(n) + 1, float("nan")):
            got = forest.predict_raw_one([v])
            assert got == forest._forest.predict_raw_one_tables([v])
            vv = 0.0 if v != v else v  # missing type None: NaN is 0.0
            i = 0
            while i < n and vv <= n - i:  # node i: x <= n - i goes left (to node i + 1)
                i += 1
            assert got == i * 0.5, (n, v)


def test_a_row_is_one_dimensional(zoo):
    _b, f = zoo["nan"]
    with pytest.raises(ValueError, match="5 feature values. Got 1 instead"):
        f.predict_one(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="5 feature values. Got 4 instead"):
        f.predict_one(np.zeros(4))
    assert f.predict_one(np.zeros(5)) == f.predict_one([0.0] * 5) == f.predict_one(np.zeros(10)[::2])


def test_model_predict_one_uses_the_layout_by_default_and_saves_nothing(monkeypatch):
    X, y = forest_data(seed=9, n=600)
    names = [f"f{i}" for i in range(X.shape[1])]
    b = train_booster({"num_leaves": 15}, X, y, rounds=40, feature_name=names)
    ref = b.predict(X, num_threads=1)
    m = Model(b, names)
    assert m.single_row_path == "pending" and m.inference_path == "fast"
    assert same_bits([m.predict_one(x) for x in X], ref)  # the first call chooses the engine
    assert m.single_row_path == ("fast" if pure_python() else "compiled") and m.inference_path == "fast"
    assert "compiled" not in m.to_files()["model.json"].decode()
    for env, value in (("FRAUDSCORE_SINGLE_ROW", "lightgbm"), ("FRAUDSCORE_PURE_PYTHON", "1"), (DISABLE_ENV, "1")):
        with monkeypatch.context() as mp:
            mp.setenv(env, value)
            other = Model(b, names)
            assert other.prepare_single_row() == "fast", env
            assert same_bits([other.predict_one(x) for x in X[:100]], ref[:100])
    slow = Model(b, names, fast=False)
    assert slow.prepare_single_row() == "fallback"
    assert same_bits([slow.predict_raw_one(x) for x in X[:50]], ref[:50])
    compiled = Model(b, names, compiled=True)
    assert compiled.single_row_path == "compiled" and compiled._one == compiled._compiled.predict_one
