"""The compiled column factorize (``_core/columns.c``) == its references, bit for bit: ``pandas.factorize``
for the velocity replay's key columns, and the identity stage's Python loop (#13 round 13)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.identity import columns as idcols
from tests.helpers import compiled_core, pure_python

replay_mod = importlib.import_module("fraudscore.velocity.replay")  # the package exports the function replay

core = compiled_core("columns", "the compiled column kernels")


class Sub(str):  # a str subclass may define its own equality: the references decide
    pass


TEXT = st.one_of(st.sampled_from(["", "a", "b", "p:0f", "é", "日本", "😀", "a" * 40, "\x00"]),
                 st.text(max_size=6))
MISSING = st.sampled_from([None, float("nan")])
OTHER = st.one_of(st.integers(-3, 3), st.booleans(), st.floats(allow_nan=False), st.just(np.float64("nan")),
                  st.just(np.float64(1.5)), st.builds(Sub, st.sampled_from(["a", "b"])), st.just(b"a"))


def _py_identity(values: list) -> tuple[list[int], list]:
    """identity/columns.py's Python loop (the reference of both compiled factorizes)."""
    with pure_python():
        codes, uniq = idcols._factorize(np.array(values + [None], dtype=object)[:-1], len(values))
    return codes.tolist(), uniq


def _text_copies(values: list) -> list:
    """The same values, every str a new object: equality by value, not identity."""
    return ["".join(list(v)) if type(v) is str and len(v) > 1 else v for v in values]


@settings(max_examples=300)
@given(st.lists(st.one_of(TEXT, MISSING), max_size=60))
def test_text_columns_equal_pandas_factorize(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = _text_copies(values)
    raw, uniq = core.factorize(arr.tolist(), False, 0)
    want, wuniq = pd.factorize(arr, use_na_sentinel=True)
    assert np.frombuffer(raw, dtype=np.int64).tolist() == want.tolist()
    assert uniq == list(wuniq)
    assert replay_mod._factorize(arr).tolist() == want.tolist()  # the replay's column codes


@settings(max_examples=300)
@given(st.lists(st.one_of(TEXT, MISSING, OTHER), max_size=40))
def test_identity_codes_equal_the_python_loop(values):
    values = _text_copies(values)
    want_codes, want_uniq = _py_identity(values)
    got = core.factorize(values, True, 1)
    if got is None:  # a str or float subclass: the reference decides
        assert any(type(v) is not str and isinstance(v, (str, float)) for v in values)
    else:
        assert np.frombuffer(got[0], dtype=np.int64).tolist() == want_codes
        assert len(got[1]) == len(want_uniq) and all(a is b or a == b for a, b in zip(got[1], want_uniq))
    codes, uniq = idcols._factorize(np.array(values + [None], dtype=object)[:-1], len(values))
    assert codes.tolist() == want_codes  # the identity stage, whichever kernel answers
    assert len(uniq) == len(want_uniq)


@given(st.lists(st.one_of(TEXT, MISSING, OTHER), max_size=30))
def test_other_values_hand_over(values):
    got = core.factorize(values, False, 0)
    plain = all(type(v) is str or v is None or (type(v) is float and math.isnan(v)) for v in values)
    assert (got is not None) == plain


def test_large_table_and_errors():
    vals = [f"p:{i % 5000:08x}" for i in range(20_000)] + [None]
    raw, uniq = core.factorize(vals, False, 0)
    codes = np.frombuffer(raw, dtype=np.int64)
    assert len(uniq) == 5000 and codes[:5000].tolist() == list(range(5000)) and codes[-1] == -1
    assert (codes[:-1] == np.arange(20_000) % 5000).all()
    import pytest

    with pytest.raises(TypeError):
        core.factorize(5, False, 0)


_POOL = [{}, {"os": "ios"}, {"os": "ios"}, None, float("nan"), np.float64("nan"), 0, "", [], {"a": 1}]


@settings(max_examples=300)
@given(st.lists(st.integers(0, len(_POOL) - 1), max_size=50))
def test_distinct_objects_equal_the_python_reference(picks):
    import fraudscore.devicecolumns as dc

    values = [_POOL[i] for i in picks]  # equal mappings that are different objects stay apart
    raw, firsts = core.distinct_objects(values)
    with pure_python():
        want_codes, want_firsts = dc._distinct_objects(values)
    assert np.frombuffer(raw, dtype=np.int64).tolist() == want_codes.tolist()
    assert len(firsts) == len(want_firsts) and all(a is b for a, b in zip(firsts, want_firsts))
    codes, got = dc._distinct_objects(values)
    assert codes.tolist() == want_codes.tolist() and all(a is b for a, b in zip(got, want_firsts))


@settings(max_examples=200)
@given(st.lists(st.one_of(TEXT, MISSING), max_size=40), st.lists(st.booleans(), max_size=40))
def test_codes_do_not_depend_on_cached_hashes(values, hashed):
    """Round 14: the table hashes the bytes, not Python's cached str hash: equal strings share a code whether
    or not some of their objects were hashed (used as dict keys) before."""
    copies = _text_copies(values)
    for v, h in zip(copies, hashed):
        if h and isinstance(v, str):
            hash(v)
    raw, uniq = core.factorize(list(values) + copies, False, 0)
    want, wuniq = pd.factorize(np.array(list(values) + copies + [None], dtype=object)[:-1], use_na_sentinel=True)
    assert np.frombuffer(raw, dtype=np.int64).tolist() == want.tolist()
    assert uniq == list(wuniq)
