"""fraudscore.devicecolumns: the distinct-object codes of the device column == the reference dict loop."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.devicecolumns import _distinct_objects


def reference(values):
    """The loop device_columns ran before: a dict from id() per row, distinct objects in order of appearance."""
    codes = np.full(len(values), -1, dtype=np.int64)
    seen: dict[int, int] = {}
    firsts: list = []
    for i, d in enumerate(values):
        if d is None or (isinstance(d, float) and math.isnan(d)):
            continue
        c = seen.get(id(d))
        if c is None:
            c = seen[id(d)] = len(firsts)
            firsts.append(d)
        codes[i] = c
    return codes, firsts


@settings(deadline=None, max_examples=150)
@given(st.lists(st.integers(0, 7), max_size=40))
def test_distinct_objects_equal_reference(picks):
    nan = float("nan")
    pool = [None, nan, {"os": "ios"}, {"os": "ios"}, {}, float("nan"), {"a": 1}, 0.5]  # equal dicts stay distinct
    values = [pool[p] for p in picks]
    codes, firsts = _distinct_objects(values)
    want_codes, want_firsts = reference(values)
    assert codes.tolist() == want_codes.tolist()
    assert len(firsts) == len(want_firsts) and all(a is b for a, b in zip(firsts, want_firsts))
