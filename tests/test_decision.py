"""``make_decision`` (the scorer's fast constructor) against ``Decision(...)``: the same instance state."""

from __future__ import annotations

import math
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.decision import Decision, PendingReasons, Reason, make_decision

_text = st.text(max_size=8)
_reason = st.builds(Reason, _text, _text, st.sampled_from(["rule", "model", "system"]), st.booleans())
_reasons = st.one_of(st.lists(_reason, max_size=3), st.tuples(_reason),
                     st.builds(lambda r: PendingReasons(r, lambda: [Reason("M", "model", "model")], []),
                               st.lists(_reason, max_size=2)))
_challenger = st.one_of(st.none(), st.just({}),
                        st.fixed_dictionaries({"challenger_score": st.integers(0, 1000),
                                               "challenger_probability": st.floats(0, 1),
                                               "challenger_action": st.sampled_from(["approve", "review"]),
                                               "challenger_version": _text}))


def _state(d: Decision) -> list:
    """The instance dict as (key, value) pairs, in order; NaN compared as a marker."""
    return [(k, "nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in d.__dict__.items()]


@settings(max_examples=100, deadline=None)
@given(app=_text, score=st.integers(0, 1000), prob=st.floats(allow_nan=True), action=st.sampled_from(["approve",
       "review", "decline"]), reasons=_reasons, hits=st.lists(_text, max_size=3), shadow=st.lists(_text, max_size=2),
       features=st.one_of(st.none(), st.dictionaries(_text, st.floats(allow_nan=False), max_size=3)), mv=_text, rv=_text,
       device=st.one_of(st.none(), _text), degraded=st.booleans(), duplicate=st.booleans(), challenger=_challenger)
def test_make_decision_equals_the_constructor(app, score, prob, action, reasons, hits, shadow, features, mv, rv,
                                              device, degraded, duplicate, challenger):
    ref = Decision(application_id=app, score=score, probability=prob, action=action, reasons=reasons,
                   rule_hits=hits, shadow_hits=shadow, features=features, model_version=mv, ruleset_version=rv,
                   device_id=device, degraded=degraded, **(challenger or {}), duplicate=duplicate)
    fast = make_decision(app, score, prob, action, reasons, hits, shadow, features, mv, rv, device, degraded,
                         duplicate, challenger)
    assert type(fast) is Decision
    assert _state(fast) == _state(ref)  # same keys, same order, same values (the reasons object itself)
    assert fast.reasons_pending == ref.reasons_pending
    assert [r.code for r in fast.reasons] == [r.code for r in ref.reasons]
    if not (isinstance(prob, float) and math.isnan(prob)):
        assert fast == ref and fast.to_dict() == ref.to_dict()
    assert _state(pickle.loads(pickle.dumps(fast))) == _state(pickle.loads(pickle.dumps(ref)))
