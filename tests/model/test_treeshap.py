"""The compiled TreeSHAP equals LightGBM's ``pred_contrib`` bit for bit (missing types, categorical splits,
repeated features on a path, one-leaf trees), sums to the raw margin, is the engine ``Model.contributions``
uses with compiled trees, and gives the same reason codes as LightGBM's contributions."""

from __future__ import annotations

import os
import platform
import warnings

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.model import Model, explain_batch, explain_reasons
from fraudscore.model.compiled import (DISABLE_ENV, SHAP_TABLES_ENV, CompiledForest, ForestTables, forest_tables,
                                       probe_rows)
from tests.model.forest_data import booster_zoo, forest_data, same_bits, train_booster

pytestmark = pytest.mark.skipif(os.environ.get(DISABLE_ENV) == "1", reason=f"{DISABLE_ENV}=1")

SPECIAL = [0.0, -0.0, 1e-35, -1e-35, 5e-324, 1e-300, 1.0, -1.0, 2.5, 31.0, 32.0, 63.0, 1e9, -1e9, 1e300,
           float("inf"), float("-inf"), float("nan")]


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _close(got: np.ndarray, ref: np.ndarray) -> bool:
    """Within 1e-12 of the row's scale (1 + sum of |contributions|); infinities and NaN never appear."""
    scale = 1.0 + np.sum(np.abs(ref), axis=1, keepdims=True)
    return bool(np.all(np.isfinite(got)) and np.all(np.abs(got - ref) <= 1e-12 * scale))


def _reasons(lists: list) -> list:
    """Reason lists without the contribution floats (those differ from LightGBM's by rounding)."""
    return [[(r.code, r.message, r.feature, r.adverse_action_ok) for r in rs] for rs in lists]


def _check(f: CompiledForest, b: lgb.Booster, X: np.ndarray) -> None:
    ref = b.predict(X, pred_contrib=True)
    assert same_bits(f.contributions(X, classic=True), ref)
    assert _close(f.contributions(X), ref)


@pytest.fixture(scope="module")
def boosters() -> dict[str, lgb.Booster]:
    """One booster per missing-value type, categorical splits, deep trees (features repeat on a path)."""
    return booster_zoo(deep=True)


@pytest.fixture(scope="module")
def forests(boosters) -> dict[str, CompiledForest]:
    return {name: CompiledForest.from_booster(b) for name, b in boosters.items()}


def test_every_model_kind_equals_pred_contrib(boosters, forests):
    X, _ = forest_data(seed=1, n=600)
    for name, b in boosters.items():
        f = forests[name]
        k = X.shape[1] if name != "deep" else 2
        Xn = np.vstack([X[:, :k], probe_rows(f.tables, n=200)])
        assert f.explains, name
        assert f.fast_shap[0] == sum(1 for r in f.tables.roots if r >= 0), name  # every tree has its tables
        assert f.verify_contributions(b) == 0, name
        ref = b.predict(Xn, pred_contrib=True)
        classic, fast = f.contributions(Xn, classic=True), f.contributions(Xn)
        assert classic.shape == fast.shape == (Xn.shape[0], k + 1)
        assert same_bits(classic, ref), (name, float(np.nanmax(np.abs(classic - ref))))
        assert _close(fast, ref), (name, float(np.nanmax(np.abs(fast - ref))))
        assert same_bits(fast[:, -1], ref[:, -1])                      # the bias is LightGBM's, bit for bit
        assert same_bits(f.contributions(Xn, threads=3), fast), name   # rows split over threads: same bits
        assert same_bits(f.contributions(Xn[7]), fast[7:8]), name      # one row: the same as in a block
        assert same_bits(f.contributions(Xn[7], classic=True), ref[7:8]), name
        # additivity, as LightGBM's: the row sums to the raw margin up to rounding
        assert np.allclose(fast.sum(axis=1), b.predict(Xn, raw_score=True), rtol=0, atol=1e-9), name


def test_memory_budget_leaves_trees_to_the_classic_algorithm(boosters, monkeypatch):
    b = boosters["deep"]
    t = forest_tables(b.model_to_string())
    full = CompiledForest(t)
    trees, size = full.fast_shap
    assert trees == t.n_trees and size > 0
    half = CompiledForest(t, shap_tables_mb=size / 2 / 2**20)
    assert 0 < half.fast_shap[0] < trees
    none = CompiledForest(t, shap_tables_mb=0)
    assert none.fast_shap == (0, 0)
    monkeypatch.setenv(SHAP_TABLES_ENV, "0")
    assert CompiledForest(t).fast_shap == (0, 0)
    monkeypatch.setenv(SHAP_TABLES_ENV, "lots")
    with pytest.raises(ConfigError, match=SHAP_TABLES_ENV):
        CompiledForest(t)
    monkeypatch.delenv(SHAP_TABLES_ENV)
    X, _ = forest_data(seed=3, n=300)
    X = X[:, :2]
    ref = b.predict(X, pred_contrib=True)
    assert same_bits(none.contributions(X), ref)
    assert _close(half.contributions(X), ref) and same_bits(half.contributions(X, classic=True), ref)
    import pickle
    assert pickle.loads(pickle.dumps(half)).fast_shap == half.fast_shap


def test_models_exercise_what_they_claim(boosters):
    t = forest_tables(boosters["deep"].model_to_string())
    # a feature repeats on some root-to-leaf path (the unwind branch of the algorithm)
    assert t.nodes.shape[0] > 2 * t.n_trees
    assert forest_tables(boosters["one_leaf"].model_to_string()).nodes.shape[0] == 0
    assert any(int(v) & 1 for v in boosters["categorical"].model_to_string().split("decision_type=")[1]
               .split("\n", 1)[0].split())


value = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.integers(-5, 70).map(float), st.floats(-3, 3))


@settings(max_examples=60)
@given(st.sampled_from(["nan", "none", "zero", "categorical", "sigmoid"]),
       st.lists(st.lists(value, min_size=5, max_size=5), min_size=1, max_size=4), st.integers(0, 4),
       st.sampled_from([-1, 0, 1]))
def test_property_contributions_equal_pred_contrib(boosters, forests, kind, rows, j, nudge):
    b, f = boosters[kind], forests[kind]
    X = np.array(rows, dtype=np.float64)
    t = f.tables.nodes
    thr = t["threshold"][((t["decision_type"] & 1) == 0) & (t["feature"] == j)]
    if thr.size:  # one value right at (or one ulp off) a threshold of that feature
        v = thr[len(rows) % thr.size]
        X[0, j] = v if nudge == 0 else np.nextafter(v, np.inf * nudge)
    _check(f, b, X)


@settings(max_examples=15)
@given(st.integers(0, 10_000), st.sampled_from([3, 7, 31]), st.booleans())
def test_property_random_forests(seed, leaves, categorical):
    rng = np.random.default_rng(seed)
    n, k = 400, 4
    X = rng.normal(size=(n, k))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 3] = rng.integers(0, 12, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(X[:, 0]) - (X[:, 3] % 2)))).astype(int)
    b = train_booster({"num_leaves": leaves, "seed": seed, "min_data_in_leaf": 3, "max_cat_to_onehot": 1,
                "min_data_per_group": 3, "cat_smooth": 1}, X, y, rounds=8,
               **({"categorical_feature": [3]} if categorical else {}))
    f = CompiledForest.from_booster(b)
    Xt = np.vstack([X[:50], rng.normal(size=(20, k)) * 3, probe_rows(f.tables, n=30, seed=seed)])
    _check(f, b, Xt)


def test_without_covers_there_are_no_compiled_contributions(boosters):
    text = boosters["nan"].model_to_string()
    stripped = "\n".join(line for line in text.splitlines() if not line.startswith("internal_count="))
    t = forest_tables(stripped)
    assert not t.has_covers and forest_tables(text).has_covers
    assert t.sha256() == forest_tables(text).sha256()   # covers are not part of the recorded hash
    f = CompiledForest(t)
    assert not f.explains
    with pytest.raises(ConfigError, match="node covers"):
        f.contributions(np.zeros((1, 5)))


def test_inconsistent_covers_are_refused(boosters, forests):
    t = forests["nan"].tables
    f = CompiledForest(forest_tables("\n".join(line for line in boosters["nan"].model_to_string().splitlines()
                                                if not line.startswith("leaf_count="))))._forest
    assert not f.has_shap
    with pytest.raises(ValueError, match="inconsistent"):
        f.set_shap(t.node_count[:-1], t.leaf_count, t.leaf_start)
    with pytest.raises(ValueError, match="inconsistent"):
        f.set_shap(np.where(np.arange(t.node_count.size) == 0, 0.0, t.node_count), t.leaf_count, t.leaf_start)
    bad_start = t.leaf_start.copy()
    bad_start[1] = bad_start[2]
    with pytest.raises(ValueError, match="inconsistent"):
        f.set_shap(t.node_count, t.leaf_count, bad_start)
    assert not f.has_shap   # refused calls leave nothing half set
    f.set_shap(t.node_count, t.leaf_count, t.leaf_start)
    assert f.has_shap
    with pytest.raises(RuntimeError, match="already"):   # once only: contrib() may be reading the tables
        forests["nan"]._forest.set_shap(t.node_count, t.leaf_count, t.leaf_start)
    with pytest.raises(ConfigError, match="5 columns"):
        forests["nan"].contributions(np.zeros((2, 4)))
    assert isinstance(t, ForestTables)


def test_model_uses_compiled_contributions_and_keeps_reasons(data, model):
    X = data[0][:400]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Model(model.booster, model.feature_names, calibrator=model.calibrator, thresholds=model.thresholds,
                  compiled=True)
    lgbm = Model(model.booster, model.feature_names, fast=False)  # explains with LightGBM's pred_contrib
    assert m.explain_path == "compiled" and lgbm.explain_path == "lightgbm" and lgbm.contribution_margin == 0.0
    assert m.contribution_margin > 0  # FastTreeSHAP tables: equal to LightGBM's to rounding
    assert _close(m.contributions(X), model.booster.predict(X, pred_contrib=True))
    assert same_bits(m.contributions(X, exact=True), model.booster.predict(X, pred_contrib=True))
    assert _close(m.contributions(X), lgbm.contributions(X))
    assert _reasons(explain_batch(m, X)) == _reasons(explain_batch(lgbm, X))
    assert _reasons([explain_reasons(m, x) for x in X[:50]]) == _reasons([explain_reasons(lgbm, x) for x in X[:50]])
    assert explain_batch(m, X[:50]) == [explain_reasons(m, x) for x in X[:50]]  # one row = in a batch, exactly


def test_bench_bundles_give_the_same_contributions_and_reasons(tmp_path):
    """The project's reference bundles (the default one): same contributions and reason codes."""
    from fraudscore.bench.bundles import BenchContext
    from fraudscore.bench.common import Settings

    ctx = BenchContext(Settings.for_mode(True), cache_dir=tmp_path)
    b = ctx.bundle("default")
    m = Model.from_files(b.model.to_files(), compiled=True)
    assert m.explain_path == "compiled"
    X = np.asarray(ctx.train_X, dtype=np.float64)[:: max(1, len(ctx.train_X) // 300)][:300]
    if b.model.num_features != X.shape[1]:  # pragma: no cover - the bundle selects model columns
        X = X[:, : b.model.num_features]
    ref = b.model.booster.predict(X, pred_contrib=True)
    assert _close(m.contributions(X), ref)
    assert same_bits(m._explainer.contributions(X, classic=True), ref)  # noqa: SLF001
    assert _reasons(explain_batch(m, X)) == _reasons(explain_batch(b.model, X))


def _interleaved_layout(t: ForestTables) -> ForestTables:
    """The same trees with the internal nodes of the first two trees interleaved (each tree's children still after
    their parents, so the forest is valid): a layout forest_tables never writes, which the fixed-order
    FastTreeSHAP walk refuses (those trees go classic)."""
    starts = [int(r) for r in t.roots if r >= 0]
    ends = starts[1:] + [t.nodes.shape[0]]
    a, b = list(range(starts[0], ends[0])), list(range(starts[1], ends[1]))
    order = [v for pair in zip(a, b) for v in pair] + a[len(b):] + b[len(a):]
    old = list(range(t.nodes.shape[0]))
    old[starts[0]: ends[1]] = order  # new position p holds old node old[p]
    where = {o: p for p, o in enumerate(old)}
    nodes = t.nodes[old].copy()
    for c in ("left", "right"):
        nodes[c] = [where[int(v)] if v >= 0 else int(v) for v in nodes[c]]
    roots = np.array([where[int(r)] if r >= 0 else int(r) for r in t.roots], dtype=np.int32)
    return ForestTables(nodes, t.leaves, roots, t.cat_bits, t.num_features, t.sigmoid,
                        node_count=t.node_count[old].copy(), leaf_count=t.leaf_count, leaf_start=t.leaf_start)


def test_fixed_order_walk_needs_the_forest_tables_layout(boosters):
    """#13 round 12: FastTreeSHAP walks each tree's nodes in index order (parents first); a forest laid out
    otherwise keeps exact results through the classic algorithm."""
    b = boosters["deep"]
    t = forest_tables(b.model_to_string())
    f = CompiledForest(t)
    assert f.fast_shap[0] == sum(1 for r in t.roots if r >= 0)
    rev = CompiledForest(_interleaved_layout(t))
    assert rev.fast_shap[0] == f.fast_shap[0] - 2  # the two interleaved trees
    assert rev._forest.shap_lanes == 1              # a classic tree: every row on the scalar path
    X, _ = forest_data(seed=5, n=200)
    X = X[:, : t.num_features]
    ref = b.predict(X, pred_contrib=True)
    assert same_bits(rev.predict(X), f.predict(X))
    assert _close(rev.contributions(X), ref) and _close(f.contributions(X), ref)
    assert same_bits(rev.contributions(X, classic=True), ref)


@settings(max_examples=10)
@given(st.integers(0, 10_000), st.sampled_from([15, 63]), st.integers(1, 70))
def test_property_fast_tables_blocks_and_single_rows(seed, leaves, n_rows):
    """The fixed-order walk: any number of rows (blocks, threads, one row) gives each row the same bits, within
    rounding of pred_contrib, on trees of up to 63 leaves."""
    rng = np.random.default_rng(seed)
    n, k = 600, 6
    X = rng.normal(size=(n, k))
    X[rng.random(X.shape) < 0.15] = np.nan
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(X[:, 0] + X[:, 1] * X[:, 2])))).astype(int)
    b = train_booster({"num_leaves": leaves, "seed": seed, "min_data_in_leaf": 2}, X, y, rounds=6)
    f = CompiledForest.from_booster(b)
    if platform.machine() in ("x86_64", "AMD64") and "avx2" in _cpu_flags():
        assert f._forest.shap_lanes == 4   # blocks of four rows take the AVX2 path, the rest the scalar one
    Xt = np.vstack([X[:n_rows], probe_rows(f.tables, n=10, seed=seed)])
    ref = b.predict(Xt, pred_contrib=True)
    got = f.contributions(Xt)
    assert _close(got, ref) and same_bits(got[:, -1], ref[:, -1])
    assert same_bits(f.contributions(Xt, threads=2), got)
    assert same_bits(f.contributions(Xt[-1]), got[-1:])
