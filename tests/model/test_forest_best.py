"""predict_best (``_forest_best.h``): the rows that may be the best get their probability bit for bit, the others
-1.0 only where their probability is strictly below the best's -- on trained models (random rows, duplicates,
thresholds), on hand-built forests whose probabilities saturate at 1.0 and 0.0 (ties from different margins),
and on the device linker's model. Since round 11 every row is scored in full (QuickScorer's threshold tables where
the forest is plain, the single-row layout otherwise): ``check_best(..., full=True)`` checks that too."""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.model.compiled import DISABLE_ENV, NODE_DTYPE, CompiledForest, ForestTables

pytestmark = pytest.mark.skipif(os.environ.get(DISABLE_ENV) == "1", reason=f"{DISABLE_ENV}=1")


def _bits(a) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.int64).tolist()


def check_best(f: CompiledForest, X: np.ndarray, full: bool = True) -> tuple[np.ndarray, int]:
    """predict_best's contract against predict_one on every row; returns (out, trees walked). ``full``: every row
    scored in full (round 11), bit for bit."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    every = np.array([f.predict_one(x) for x in X])
    out = np.full(X.shape[0], 7.0)
    walked = f.predict_best_buffer(X, out)
    assert 0 < walked <= X.shape[0] * f.n_trees or X.shape[0] == 0
    if full:
        assert _bits(out) == _bits(every) and walked == X.shape[0] * f.n_trees
    top = every.max() if X.shape[0] else None
    for o, e in zip(out, every):
        assert _bits([o]) == _bits([e]) or (o == -1.0 and e < top)
    # every row tied with the best (equal probabilities, whatever their margins) is scored in full
    assert [i for i, e in enumerate(every) if e == top] == [i for i, o in enumerate(out) if o == top]
    return out, walked


@pytest.fixture(scope="module")
def trained() -> dict[str, CompiledForest]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = ((np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(size=2000) * 0.3) > 0).astype(int)
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5, "num_leaves": 15}
    out = {}
    for name, extra, rounds in (("plain", {}, 60), ("sigmoid", {"sigmoid": 0.6}, 40), ("few", {}, 5),
                                ("one_leaf", {"min_data_in_leaf": 10_000}, 12)):
        b = lgb.train({**base, **extra}, lgb.Dataset(X, y), rounds)
        out[name] = CompiledForest.from_booster(lgb.Booster(model_str=b.model_to_string()))
    return out


value = st.one_of(st.floats(-3, 3), st.sampled_from([0.0, -0.0, 1e-36, float("nan"), 1e300, -1e300]))
row = st.lists(value, min_size=4, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["plain", "sigmoid", "few", "one_leaf"]), st.lists(row, min_size=0, max_size=12),
       st.lists(st.integers(0, 11), max_size=4))
def test_property_best_rows_are_exact_and_the_rest_below(trained, kind, rows, dups):
    rows = rows + [rows[i] for i in dups if i < len(rows)]  # duplicates: exact ties
    check_best(trained[kind], np.array(rows, dtype=np.float64).reshape(len(rows), 4))


def test_rows_far_below_the_best_are_scored_in_full(trained):
    # rounds 9-10 pruned these (-1.0); since round 11 every row gets its probability
    f = trained["plain"]
    X = np.array([[3.0, -3.0, 0, 0]] + [[-3.0, 3.0, 0, 0]] * 7)  # one clear positive, seven clear negatives
    out, walked = check_best(f, X)
    assert out[0] > 0.9 and (out[1:] < 0.1).all() and walked == 8 * f.n_trees


def _stumps(leaves: list[tuple[float, float]], sigmoid: float = 1.0) -> CompiledForest:
    """A forest of stumps: tree i sends x[i % 2] <= 0.5 to leaves[i][0], else to leaves[i][1]."""
    n = len(leaves)
    nodes = np.zeros(n, dtype=NODE_DTYPE)
    nodes["threshold"] = 0.5
    nodes["feature"] = [i % 2 for i in range(n)]
    nodes["left"] = [~(2 * i) for i in range(n)]
    nodes["right"] = [~(2 * i + 1) for i in range(n)]
    nodes["decision_type"] = 2  # numerical, default left, missing type None
    tables = ForestTables(nodes, np.array([v for pair in leaves for v in pair], dtype=np.float64),
                          np.arange(n, dtype=np.int32), np.zeros(0, dtype=np.uint32), 2, sigmoid)
    return CompiledForest(tables)


def test_saturated_probabilities_tie_and_are_all_kept():
    # margins 20 * 3 = 60 and 20 * 2 = 40: both probabilities are exactly 1.0, a tie the caller breaks
    f = _stumps([(2.0, 3.0)] * 20)
    out, _ = check_best(f, np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    assert out.tolist() == [1.0, 1.0, 1.0, 1.0]
    # margins -800 and -900: both underflow to 0.0
    f = _stumps([(-40.0, -45.0)] * 20)
    out, _ = check_best(f, np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert out.tolist() == [0.0, 0.0]


def test_near_saturation_is_exact():
    # margins 60 (p == 1.0) against 2 (p < 1); against 30 (p == 1.0 - 2**-53 * k or 1.0): exact
    f = _stumps([(0.1, 3.0)] * 20)
    out, _ = check_best(f, np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert out[0] == 1.0 and out[1] < 1.0
    f = _stumps([(1.5, 3.0)] * 20, sigmoid=1.0)
    check_best(f, np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 2.0]),
                          st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 2.0])), min_size=1, max_size=24),
       st.sampled_from([0.5, 1.0, 3.0]),
       st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0])), min_size=1, max_size=9))
def test_property_stump_forests_with_many_equal_margins(leaves, sigmoid, rows):
    check_best(_stumps(leaves, sigmoid), np.array(rows))


def test_link_model_scores_rows_of_real_candidates():
    from array import array

    from fraudscore.fingerprint.linkfeatures import PAIR_FEATURES
    from fraudscore.fingerprint.linkmodel import default_link_model

    m = default_link_model()
    if m._compiled is None:
        pytest.skip("the compiled engine is not in use")
    k = len(PAIR_FEATURES)
    same = [0, 0, 0, 0, 0] + [0.0] * 5 + [0, 0, 0, 1.0, 0.0, 1.0, 0, 1.0, 0.5, 1.0, 3, 1.0, 0, 1.0]
    other = [0, 3, 0, 0, 9] + [1.0] * 5 + [1.0, 1.0, 1.0, 0.0, 1.0, 0.1, 200, 0.0, 6.0, 0.0, 3, 1.0, 0, 1.0]
    assert len(same) == len(other) == k
    rows = np.array([other, same, other, other], dtype=np.float64)
    out, walked = check_best(m._compiled, rows)
    assert out[1] == out.max() and walked == 4 * m._compiled.n_trees
    got = m.best_rows(array("d", rows.ravel()).tobytes(), 4)
    assert _bits(got) == _bits(out)


def test_bad_buffers_are_refused(trained):
    from fraudscore.errors import ConfigError

    f = trained["plain"]
    with pytest.raises(ConfigError, match="4 columns"):
        f.predict_best_buffer(np.zeros(7), np.zeros(2))
    with pytest.raises(TypeError):
        f.predict_best_buffer(np.zeros(8, dtype=np.int64), np.zeros(2))
    assert f.predict_best_buffer(np.zeros(0), np.zeros(0)) == 0


# -- plain forests (round 10): every split numerical with missing type None, walked on 16-byte nodes ----------------
@pytest.fixture(scope="module")
def plain_trained() -> CompiledForest:
    """A model trained without missing values: LightGBM gives every split missing type None (decision_type 0/2)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 5))
    X[:, 3] = rng.integers(-2, 3, size=2000)  # many exact zeros and integer thresholds
    y = ((X[:, 0] - X[:, 1] + 0.5 * X[:, 3] + rng.normal(size=2000) * 0.3) > 0).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5, "num_leaves": 15},
                  lgb.Dataset(X, y), 50)
    text = b.model_to_string()
    types = {int(v) for line in text.splitlines() if line.startswith("decision_type=") for v in line[14:].split()}
    assert types <= {0, 2}, types  # the plain node table applies
    return CompiledForest.from_booster(lgb.Booster(model_str=text))


plain_value = st.one_of(st.floats(-3, 3), st.integers(-2, 2).map(float),
                        st.sampled_from([0.0, -0.0, 1e-36, -1e-36, float("nan"), 1e300, -1e300, float("inf")]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(plain_value, min_size=5, max_size=5), min_size=0, max_size=12),
       st.lists(st.integers(0, 11), max_size=4))
def test_property_plain_forest_rows_are_exact(plain_trained, rows, dups):
    # NaN, -0.0 and values below LightGBM's zero threshold: the plain walk reads them as fs_next does
    rows = rows + [rows[i] for i in dups if i < len(rows)]
    check_best(plain_trained, np.array(rows, dtype=np.float64).reshape(len(rows), 5))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.floats(-2, 300), st.integers(-1, 9).map(float),
                                   st.sampled_from([0.0, -0.0, float("nan"), 1e-40])), min_size=24, max_size=24),
                min_size=1, max_size=10))
def test_property_link_model_rows_are_exact(rows):
    from fraudscore.fingerprint.linkfeatures import PAIR_FEATURES
    from fraudscore.fingerprint.linkmodel import default_link_model

    m = default_link_model()
    if m._compiled is None:
        pytest.skip("the compiled engine is not in use")
    assert len(PAIR_FEATURES) == 24
    check_best(m._compiled, np.array(rows, dtype=np.float64))


# -- QuickScorer's threshold tables (round 11): plain forests of at most 32 leaves per tree ---------------------------
def _plain_forest(trees: list[list[tuple[int, float]]], n_features: int, rng: np.random.Generator,
                  sigmoid: float = 1.0) -> CompiledForest:
    """Random-shaped plain trees: each tree is a list of (feature, threshold) nodes, built by splitting a random
    leaf each time (so shapes are unbalanced, as LightGBM's leaf-wise trees are); leaf values random."""
    nodes, leaves, roots = [], [], []
    for spec in trees:
        base = len(nodes)
        kids: list[list[int]] = []  # per node of this tree: its [left, right] child node (local), where one is
        slots: list[tuple[int, int] | None] = [None]  # the open leaves, left to right: (node, side); None: the root
        for _ in spec:
            j = int(rng.integers(len(slots)))
            slot = slots.pop(j)
            me = len(kids)
            kids.append([-1, -1])
            if slot is not None:
                kids[slot[0]][slot[1]] = me  # a later node: children come after their parent
            slots[j:j] = [(me, 0), (me, 1)]
        leaf_of = {}
        for slot in slots:
            leaf_of[slot] = len(leaves)
            leaves.append(float(rng.normal()))
        if not spec:
            roots.append(~leaf_of[None])
            continue
        for i, (feat, thr) in enumerate(spec):
            ch = [~leaf_of[(i, side)] if (i, side) in leaf_of else base + kids[i][side] for side in (0, 1)]
            nodes.append((thr, ch[0], ch[1], feat))
        roots.append(base)
    arr = np.zeros(len(nodes), dtype=NODE_DTYPE)
    for i, (thr, left, right, feat) in enumerate(nodes):
        arr[i]["threshold"] = thr
        arr[i]["left"] = left
        arr[i]["right"] = right
        arr[i]["feature"] = feat
        arr[i]["decision_type"] = 2 * int(rng.integers(2))  # numerical, missing type None, either default
    tables = ForestTables(arr, np.array(leaves, dtype=np.float64), np.array(roots, dtype=np.int32),
                          np.zeros(0, dtype=np.uint32), n_features, sigmoid)
    return CompiledForest(tables)


thresholds = st.sampled_from([-1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 1.0, 2.0, 1e-36, float("inf"), -float("inf")])
plain_row_value = st.sampled_from([-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 1.5, 2.0, 1e-36, -1e-36, float("nan"),
                                   float("inf"), -float("inf"), 1e300])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 2), thresholds), max_size=40), min_size=1, max_size=12),
       st.lists(st.lists(plain_row_value, min_size=3, max_size=3), min_size=1, max_size=9), st.integers(0, 2**31))
def test_property_plain_forests_of_any_shape_are_exact(trees, rows, seed):
    # trees of 1 to 41 leaves (up to 32: the threshold tables; more: the single-row layout), equal thresholds
    # across trees, thresholds at 0.0 / -0.0 / +-inf, rows with NaN, -0.0 and values below the zero threshold
    f = _plain_forest(trees, 3, np.random.default_rng(seed))
    check_best(f, np.array(rows, dtype=np.float64))
