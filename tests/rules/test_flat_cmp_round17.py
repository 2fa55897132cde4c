"""Round 17 (#13, ``fprules``): ``fired_parts`` evaluates a comparison leaf on a feature column inline (a root, or a
child of and / or) instead of through the recursive walk, only while no Python closure has built the merged dict and
the columns are resolved against this index. Always == ``fired`` of the merged dict (hypothesis), NaN included, with
Python leaves before and after the inline ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.rules.native import program
from fraudscore.rules.parser import parse_expression
from tests.helpers import compiled_core

from .test_parity import LIST_SETS

core = compiled_core("rules", "the compiled rules module")

NAMES = ("a", "b", "c")
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, 2.5, math.nan]))
leaf = st.tuples(st.sampled_from([*NAMES, "r"]), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                 st.sampled_from(["0", "1", "2.5", "-1", "-0.0"])).map(" ".join)
# "r" is a record field (a str or a number): a leaf the closure may decide, which builds the merged dict mid-walk
trees = st.recursive(leaf, lambda ch: st.one_of(
    st.tuples(ch, st.sampled_from(["and", "or"]), ch).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    ch.map(lambda x: f"(not {x})")), max_leaves=6)


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees, min_size=1, max_size=8), st.lists(st.tuples(floats, floats, floats,
                                                                   st.one_of(floats, st.just("web"), st.none())),
                                                         min_size=1, max_size=5))
def test_inline_leaves_equal_the_merged_dict(texts, rows):
    prog = program([parse_expression(t) for t in texts], LIST_SETS)
    index = {n: i for i, n in enumerate(NAMES)}
    for a, b, c, r in rows:
        x = np.array([a, b, c], dtype=np.float64)
        record = {"r": r}
        merged = dict(record)
        merged.update(zip(NAMES, x.tolist()))
        got, _values = prog.fired_parts(record, x, index, NAMES)
        assert got == prog.fired(merged)
        got2, _values = prog.fired_parts(record, x, index, lambda m=merged: dict(m))
        assert got2 == got


def test_short_vector_still_raises():
    prog = program([parse_expression("c > 1")], LIST_SETS)
    with pytest.raises(IndexError):
        prog.fired_parts({}, np.array([0.0]), {"c": 2}, dict)
