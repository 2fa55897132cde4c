"""``HitMatrix.points``: exact integer sums of the non-shadow hits, without BLAS (#13 round 18)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fraudscore.rules.combine import HitMatrix


@st.composite
def hit_tables(draw):
    rows, rules = draw(st.integers(0, 40)), draw(st.integers(0, 8))
    matrix = draw(arrays(bool, (rows, rules)))
    if draw(st.booleans()):
        matrix = np.asfortranarray(matrix)  # evaluate_columns' layout; the other is C order
    scores = draw(st.lists(st.integers(-(2**40), 2**40), min_size=rules, max_size=rules))
    shadow = draw(st.lists(st.booleans(), min_size=rules, max_size=rules))
    return matrix, scores, shadow


@given(hit_tables())
def test_points_are_the_exact_sums_of_the_acting_hits(table):
    matrix, scores, shadow = table
    rules = len(scores)
    m = HitMatrix(matrix, [f"R{j}" for j in range(rules)], ["review"] * rules, scores, shadow, [0] * rules,
                  renderers=[None] * rules)
    want = [sum(s for s, sh, hit in zip(scores, shadow, row) if hit and not sh) for row in matrix.tolist()]
    assert m.points.dtype == np.int64 and m.points.tolist() == want


def test_points_stay_exact_past_float64_integers():
    """Sums past float64's 53-bit integers stay exact (a float matmul, the old path, would round them)."""
    big = 2**60 + 1
    m = HitMatrix(np.ones((3, 2), dtype=bool), ("A", "B"), ("review", "review"), (big, 2), (False, False), (0, 0),
                  renderers=(None, None))
    assert m.points.tolist() == [big + 2] * 3
