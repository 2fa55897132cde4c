"""Policy: rule outcomes + thresholds, scalar and vectorised agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.policy import Policy


@given(st.integers(0, 1000), st.integers(0, 1001), st.lists(st.tuples(
    st.integers(0, 1000), st.sampled_from([None, "decline", "review", "approve"]), st.integers(-300, 300)),
    min_size=1, max_size=30))
def test_scalar_and_vector_agree(r, d, rows):
    review, decline = min(r, d), max(r, d)
    p = Policy(review, decline)
    s, a = p.decide_array(np.array([x[0] for x in rows]), np.array([x[1] for x in rows], dtype=object),
                          np.array([x[2] for x in rows]))
    for (ms, ra, pts), s1, a1 in zip(rows, s, a):
        assert p.decide(ms, ra, pts) == (int(s1), a1)


def test_precedence():
    p = Policy(300, 700)
    assert p.decide(0, "decline", 0) == (0, "decline")
    assert p.decide(999, "approve", 0) == (999, "approve")
    assert p.decide(999, "review", 0)[1] == "decline"
    assert p.decide(100, "review", 0)[1] == "review"
    assert p.decide(950, None, 200) == (1000, "decline")
    assert p.decide(10, None, -50) == (0, "approve")


def test_validation():
    with pytest.raises(ConfigError, match="'decline' parameter"):
        Policy(500, 100)
    with pytest.raises(ConfigError, match="'review' parameter"):
        Policy(-1, 100)
    assert Policy.from_dict(Policy(1, 2).to_dict()) == Policy(1, 2)


def _decide_reference(p: Policy, model_score, rule_action, points):
    """Round 9's ``Policy.decide`` (``int(min(SCORE_MAX, max(0, ...)))``), the reference of the round-10 form."""
    from fraudscore.policy import SCORE_MAX

    score = int(min(SCORE_MAX, max(0, model_score + points)))
    if rule_action == "decline":
        return score, "decline"
    threshold = "decline" if score >= p.decline else "review" if score >= p.review else "approve"
    if rule_action == "review":
        return score, "decline" if threshold == "decline" else "review"
    if rule_action == "approve":
        return score, "approve"
    return score, threshold


@given(st.integers(0, 1000), st.integers(0, 1001), st.one_of(st.integers(-2000, 3000), st.floats(-2e3, 3e3)),
       st.sampled_from([None, "decline", "review", "approve"]),
       st.one_of(st.integers(-500, 500), st.floats(-500, 500), st.just(float("nan"))))
def test_decide_equals_the_min_max_form(r, d, ms, ra, pts):
    p = Policy(min(r, d), max(r, d))
    got, ref = p.decide(ms, ra, pts), _decide_reference(p, ms, ra, pts)
    assert got == ref and type(got[0]) is int
