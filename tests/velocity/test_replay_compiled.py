"""The velocity replay's compiled distinct counts (``_core/columns.c`` ``range_distinct``, #13 round 14) == the numpy
reference (``replay._range_distinct_reference``), bit for bit, and the replay's features with and without the
compiled core."""

from __future__ import annotations

import importlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.velocity import FeatureSet, FeatureSpec
from tests.helpers import compiled_core, pure_python

replay_mod = importlib.import_module("fraudscore.velocity.replay")  # the package exports the function replay

core = compiled_core("columns", "the compiled column kernels", "range_distinct")


@st.composite
def ranges(draw):
    m = draw(st.integers(0, 40))
    codes = draw(st.lists(st.integers(-1, 6), min_size=m, max_size=m))
    k = draw(st.integers(0, 30))
    lo = draw(st.lists(st.integers(0, m), min_size=k, max_size=k))
    hi = [draw(st.integers(0, m)) for _ in range(k)]  # reversed and empty ranges included
    cur = [draw(st.sampled_from(codes + [-1])) for _ in range(k)]  # the current row's value or none
    i64 = np.int64
    return np.array(codes, dtype=i64), np.array(lo, dtype=i64), np.array(hi, dtype=i64), np.array(cur, dtype=i64)


@settings(max_examples=400)
@given(ranges())
def test_range_distinct_equals_the_reference(args):
    codes, lo, hi, cur = args
    want = replay_mod._range_distinct_reference(codes, lo, hi, cur)
    got = core.range_distinct(codes, lo, hi, cur)
    assert np.frombuffer(got, dtype=np.int64).tolist() == want.tolist()
    assert replay_mod._range_distinct(codes, lo, hi, cur).tolist() == want.tolist()


def test_range_distinct_brute_force():
    rng = np.random.default_rng(7)
    codes = rng.integers(-1, 50, 2_000)
    lo = rng.integers(0, 2_000, 3_000)
    hi = np.minimum(lo + rng.integers(-5, 300, 3_000), 2_000)
    cur = np.where(rng.random(3_000) < 0.5, rng.integers(0, 50, 3_000), -1)
    got = np.frombuffer(core.range_distinct(codes, lo, hi, cur), dtype=np.int64)
    want = [len({c for c in codes[a:b].tolist() if c >= 0} | ({u} if u >= 0 else set()))
            for a, b, u in zip(lo.tolist(), hi.tolist(), cur.tolist())]
    assert got.tolist() == want == replay_mod._range_distinct_reference(codes, lo, hi, cur).tolist()


def test_a_range_outside_the_codes_goes_to_the_reference():
    codes = np.array([1, 2], dtype=np.int64)
    assert core.range_distinct(codes, np.array([0]), np.array([3]), np.array([-1])) is None
    assert core.range_distinct(codes, np.array([-1]), np.array([1]), np.array([-1])) is None
    assert np.frombuffer(core.range_distinct(codes, np.array([5]), np.array([1]), np.array([2])),
                         dtype=np.int64).tolist() == [1]  # reversed: nothing counted from the codes


def test_wrong_buffers_are_refused():
    import pytest

    c = np.array([1, 2], dtype=np.int64)
    with pytest.raises(TypeError):
        core.range_distinct(c.astype(np.int32), c, c, c)
    with pytest.raises(ValueError):
        core.range_distinct(c, c, c[:1], c)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["a", "b", "c", None]), st.integers(0, 5_000)),
                max_size=30))
def test_replay_distinct_features_with_and_without_the_compiled_core(rows):
    fs = FeatureSet([FeatureSpec("distinct", key="ip", of="phone", window="1h"),
                     FeatureSpec("distinct", key="ip", of="phone", window="2s")])
    rows = sorted(rows, key=lambda r: r[2])
    cols = {"ts": np.array([r[2] for r in rows], dtype=np.int64),
            "ip": np.array([f"ip{r[0]}" for r in rows] + [None], dtype=object)[:-1],
            "phone": np.array([r[1] for r in rows] + [None], dtype=object)[:-1]}
    fast = replay_mod.replay(fs, cols)
    with pure_python():
        slow = replay_mod.replay(fs, cols)
    assert np.array_equal(fast, slow, equal_nan=True)


@settings(max_examples=300)
@given(st.lists(st.integers(-1, 8), max_size=60))
def test_group_rows_equals_a_stable_argsort(codes):
    c = np.array(codes, dtype=np.int64)
    rows = np.flatnonzero(c >= 0)
    want = rows[np.argsort(c[rows], kind="stable")]
    got = core.group_rows(c)
    if c.size and c.max() >= c.size:  # factorize's codes are below the number of rows; others: the numpy sort
        assert got is None
    else:
        assert np.frombuffer(got, dtype=np.int64).tolist() == want.tolist()


def test_group_rows_refuses_codes_beyond_the_rows():
    assert core.group_rows(np.array([0, 2], dtype=np.int64)) is None  # a code >= n: the numpy sort answers
    assert core.group_rows(np.zeros(0, dtype=np.int64)) == b""


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(-1, 5), st.integers(0, 30)), max_size=40), st.booleans())
def test_sorted_rows_with_and_without_the_compiled_core(pairs, ordered):
    if ordered:
        pairs = sorted(pairs, key=lambda p: p[1])
    code = np.array([p[0] for p in pairs], dtype=np.int64)
    ts = np.array([p[1] for p in pairs], dtype=np.int64)
    fast = replay_mod._Sorted(code, ts)
    with pure_python():
        slow = replay_mod._Sorted(code, ts)
    for attr in ("row", "code", "ts", "K", "ent_start", "ent_end", "dirty"):
        assert getattr(fast, attr).tolist() == getattr(slow, attr).tolist(), attr
