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
