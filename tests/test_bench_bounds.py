"""Tests of ``fraudscore.bench.bounds``: the least wall time of measured batch work on N cores."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.bench.bounds import wall_bound

_times = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=100.0))


@given(st.dictionaries(st.sampled_from(["link", "model", "identity", "schema", "rules"]), _times, min_size=1),
       st.integers(1, 64), st.floats(0.01, 100.0), st.floats(0.01, 4.0))
def test_bound_is_the_larger_of_the_two_limits(stages, cores, base, goal):
    if sum(stages.values()) == 0:
        with pytest.raises(ValueError, match="no work"):
            wall_bound(stages, ["link"], cores, base, goal)
        return
    b = wall_bound(stages, ["link"], cores, base, goal)
    seq = stages.get("link", 0.0)
    assert b.least_wall_s >= seq and b.least_wall_s >= b.total_s / cores
    assert b.least_wall_s in (seq, b.total_s / cores)
    assert math.isclose(b.best_ratio * b.least_wall_s, base)
    assert math.isclose(b.shrink_needed, goal / b.best_ratio)
    assert b.sequential_limited == (seq >= b.total_s / cores)
    more = wall_bound(stages, ["link"], cores * 2, base, goal)  # more cores never make the bound worse
    assert more.least_wall_s <= b.least_wall_s


def test_sequential_stages_set_the_floor_whatever_the_cores():
    stages = {"link loop": 2.0, "everything else": 2.0}
    for cores in (2, 8, 1024):
        b = wall_bound(stages, ["link loop"], cores, baseline_wall_s=1.0, goal_ratio=0.5)
        assert b.least_wall_s == 2.0 and b.sequential_limited
        assert b.shrink_needed == 1.0  # the goal allows 2.0 s: reachable only with a perfect schedule
    one = wall_bound(stages, ["link loop"], 1, baseline_wall_s=1.0, goal_ratio=0.5)
    assert one.least_wall_s == 4.0 and one.best_ratio == 0.25 and one.shrink_needed == 2.0


def test_unknown_sequential_names_count_nothing_and_bad_inputs_are_refused():
    b = wall_bound({"a": 1.0, "b": 1.0}, ["not a stage"], 2, 1.0, 1.0)
    assert b.sequential_s == 0.0 and b.least_wall_s == 1.0
    with pytest.raises(ValueError, match="cores"):
        wall_bound({"a": 1.0}, [], 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        wall_bound({"a": 1.0}, [], 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="negative"):
        wall_bound({"a": -1.0}, [], 1, 1.0, 1.0)
    assert wall_bound({"a": 1.0}, [], 1, 1.0, 1.0).as_dict()["least_wall_s"] == 1.0
