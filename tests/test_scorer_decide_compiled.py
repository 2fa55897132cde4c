"""``_core.pipeline.decide`` (round 14: ``Scorer.score`` from the raw event to the ``Decision`` in one call) against
the Python steps of ``Scorer.score`` (``scorer._fast = None``).

Two scorers on the same bundle see the same stream; one runs the compiled call, the other the Python steps (which
themselves run the compiled pipeline, held to the pure reference by ``tests/test_pipeline_online_compiled.py``).
Every answer must agree: the decision's every field (reasons resolved, whether they were pending), the same error
(type, field and message) for a bad or future event, and at the end the same velocity state, link state and
exactly-once records. The streams mix duplicates, late and far-future events, bad values, rule hits (acting and
shadow), every ``explain`` setting with lazy and eager reasons, random thresholds and model outputs (ties at .5,
NaN, infinities), and the hand-overs (a degraded store, a challenger, ``return_features``, a Python store).
"""

from __future__ import annotations

import math
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
import fraudscore.scorer as scorer_mod
from fraudscore.errors import FraudscoreError
from fraudscore.policy import Policy
from fraudscore.velocity import MemoryStore

from .helpers import SECRET, small_bundle, synthetic

pytestmark = pytest.mark.skipif(scorer_mod._DECIDE_CTX is None, reason="the compiled decide is not in use")

OPTIONAL = ("phone", "email", "bank_card", "ip", "device", "amount", "term_months", "inviter_id", "channel")
NOW = 1_900_000_000_000  # the injected clock: the synthetic stream is in the past of it


def _records():
    return synthetic().to_records()


_RECS: list[dict] = []


def records() -> list[dict]:
    if not _RECS:
        _RECS.extend(_records())
    return _RECS


class ConstantModel:
    """The bundle's model with its probability replaced (the model is not this test's subject)."""

    def __init__(self, model, p: float) -> None:
        self.model, self.p = model, p
        self.feature_names = model.feature_names

    def predict_one(self, x):
        return self.p

    def __getattr__(self, name):
        return getattr(self.model, name)


def _pair(**kw):
    bundle = small_bundle()
    a = fs.Scorer(bundle, SECRET, **kw)
    b = fs.Scorer(bundle, SECRET, **kw)
    b._fast = None  # the Python steps of Scorer.score
    return a, b


def _answer(scorer, ev, **kw):
    try:
        d = scorer.score(ev, **kw)
    except (FraudscoreError, ValueError, OverflowError) as e:  # bad events; NaN / infinite model outputs
        return ("error", type(e).__name__, str(e), getattr(e, "field", None))
    pending = d.reasons_pending
    out = d.to_dict()
    return ("decision", pending, _canon(out))


def _canon(v):
    """NaN-aware structural form (NaN == NaN here)."""
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, dict):
        return {k: _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    return v


def _same_state(a, b) -> None:
    """The same velocity state and exactly-once records (the snapshots' bytes) and the same link state."""
    with tempfile.TemporaryDirectory() as tmp:
        blobs = []
        for i, s in enumerate((a, b)):
            path = os.path.join(tmp, f"s{i}")
            s.store.snapshot(path)
            with open(path, "rb") as fh:
                blobs.append(fh.read())
        assert blobs[0] == blobs[1]
    if hasattr(a.linker.state, "to_dict"):
        assert _canon(a.linker.state.to_dict()) == _canon(b.linker.state.to_dict())


@st.composite
def streams(draw):
    recs = records()
    start = draw(st.integers(0, len(recs) - 120))
    n = draw(st.integers(3, 40))
    idx = sorted(draw(st.lists(st.integers(start, start + 119), min_size=n, max_size=n)))
    events = []
    for j, i in enumerate(idx):
        ev = dict(recs[i])
        ev["application_id"] = f"D{j}"
        op = draw(st.sampled_from(["keep", "keep", "keep", "dup", "late", "future", "drop", "bad"]))
        if op == "dup" and events:
            ev = dict(events[draw(st.integers(0, len(events) - 1))])
        elif op == "late":
            ev["ts"] = int(ev["ts"]) - draw(st.sampled_from([1_000, 3_000_000, 7_200_000]))
        elif op == "future":
            ev["ts"] = NOW + draw(st.sampled_from([0, 299_999, 300_001, 10**9]))
        elif op == "drop":
            for f in draw(st.lists(st.sampled_from(OPTIONAL), max_size=4)):
                ev.pop(f, None)
        elif op == "bad":
            ev[draw(st.sampled_from(["amount", "ts", "term_months", "device", "phone"]))] = \
                draw(st.sampled_from(["garbage", -1, [1], {"x": object()}]))
        events.append(ev)
    return events


EXPLAIN = st.sampled_from([None, True, False, "auto"])
PROBS = st.one_of(st.floats(0, 1), st.sampled_from([0.0125, 0.0135, 0.4995, 0.5005, 1.0, 0.0, -0.0, -0.2, 1.7,
                                                    float("nan"), float("inf"), 1e300]))


@settings(max_examples=30)
@given(streams(), EXPLAIN, st.booleans(), st.data())
def test_decide_equals_the_python_steps(events, explain, lazy, data):
    a, b = _pair(clock=lambda: NOW, explain=explain if explain is not None else "auto", lazy_reasons=lazy)
    model = a.model
    review = data.draw(st.integers(0, 1001))
    policy = Policy(review=review, decline=data.draw(st.integers(review, 1001)))
    a.policy = b.policy = policy
    for ev in events:
        kw = {"explain": data.draw(EXPLAIN)}
        if data.draw(st.integers(0, 4)) == 0:  # the model's output replaced: ties, NaN, infinities, out of range
            p = data.draw(PROBS)
            a.model, b.model = ConstantModel(model, p), ConstantModel(model, p)
        assert _answer(a, ev, **kw) == _answer(b, ev, **kw)
    _same_state(a, b)


def test_decide_on_a_synthetic_stream_with_rule_hits():
    """500 events of the synthetic stream: decisions with acting rule hits, reviews and declines included."""
    a, b = _pair(clock=lambda: NOW)
    handed = []
    a._decide = lambda *args: handed.append(args) or type(a)._decide(a, *args)  # counts the hand-overs
    actions, hit = set(), 0
    for ev in records()[:500]:
        ra, rb = _answer(a, ev), _answer(b, ev)
        assert ra == rb
        actions.add(ra[2]["action"])
        hit += bool(ra[2]["rule_hits"])
    assert actions == {"approve", "review", "decline"} and hit > 0
    assert handed == []  # every decision made in C
    _same_state(a, b)


def test_the_hand_overs_give_the_python_answer():
    """return_features, a challenger-free scorer without a model, a degraded store, the default clock, a Python
    store: each answer is the Python steps' answer."""
    recs = records()[:60]
    a, b = _pair(clock=lambda: NOW)
    for ev in recs[:20]:
        assert _answer(a, ev, return_features=True) == _answer(b, ev, return_features=True)
    a.model = b.model = None  # no model: probability NaN, score from the rules only
    for ev in recs[20:40]:
        assert _answer(a, ev) == _answer(b, ev)
    _same_state(a, b)
    a, b = _pair()  # the default wall clock: the stream is in its past
    for ev in recs[:10]:
        assert _answer(a, ev) == _answer(b, ev)
    a2, b2 = (fs.Scorer(small_bundle(), SECRET, store=MemoryStore(engine="python"), clock=lambda: NOW)
              for _ in range(2))
    b2._fast = None
    for ev in recs[:15]:
        assert _answer(a2, ev) == _answer(b2, ev)


def test_a_degraded_event_is_decided_in_python(monkeypatch):
    from fraudscore.errors import StoreError

    recs = records()[:40]
    a, b = _pair(clock=lambda: NOW, degrade=True)

    def fail(*args, **kwargs):
        raise StoreError("link state unavailable")

    for s in (a, b):
        monkeypatch.setattr(s.linker, "link", fail)
    degraded = 0
    for ev in recs:
        ra, rb = _answer(a, ev), _answer(b, ev)
        assert ra == rb
        if ra[0] == "decision" and ra[2]["degraded"]:  # the events with a device (the linker is called)
            degraded += 1
            assert ra[2]["reasons"][-1]["code"] == "SYS_DEGRADED"
    assert degraded > 0
    a, b = _pair(clock=lambda: NOW)  # not degrading: the StoreError propagates, nothing counted
    for s in (a, b):
        monkeypatch.setattr(s.linker, "link", fail)
    for ev in recs:
        assert _answer(a, ev) == _answer(b, ev)
    _same_state(a, b)


def test_a_replaced_policy_or_rule_set_runs_its_own_method():
    class Strict(Policy):
        def decide(self, model_score, rule_action, points):
            return 999, "decline"

    a, b = _pair(clock=lambda: NOW)
    a.policy = b.policy = Strict()
    for ev in records()[:10]:
        ra, rb = _answer(a, ev), _answer(b, ev)
        assert ra == rb and ra[2]["action"] == "decline" and ra[2]["score"] == 999


@settings(max_examples=60)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_score_scale_in_c_equals_the_function(p):
    """The compiled decide's score_scale (through a constant model) == model.thresholds.score_scale, a rule-free
    event: the decision's score is score_scale(p) (or the same error)."""
    from fraudscore.model import score_scale

    a, _ = _pair(clock=lambda: NOW)
    a.rules = a.ruleset.__class__([]).compile(list(a.rules.names) if hasattr(a.rules, "names") else [])
    a.model = ConstantModel(a.model, p)
    ev = dict(records()[0])
    try:
        want = score_scale(p)
    except (ValueError, OverflowError) as e:
        with pytest.raises(type(e), match=str(e)):
            a.score(ev)
        return
    d = a.score(ev)
    assert d.score == want and (d.probability == p or (math.isnan(p) and math.isnan(d.probability)))


WHENS = ["amount > 0", "amount > 3000", "term_months >= 3", "channel == 'partner'", "amount > 100 and term_months > 1",
         "amount < 0"]
REASONS = ["", "static text", "amount {amount}"]
rules_strategy = st.lists(st.tuples(st.sampled_from(WHENS), st.sampled_from(["decline", "review", "approve", "tag"]),
                                    st.integers(-60, 200), st.booleans(), st.sampled_from([0, 1, 5, -3]),
                                    st.sampled_from(REASONS)), min_size=1, max_size=6)


@settings(max_examples=25)
@given(rules_strategy, st.integers(0, 150))
def test_rule_hits_in_c_equal_hit_outcome(rules, start):
    """Acting and shadow hits, every action, tied and negative priorities, points that push the score out of range,
    static and rendered reasons: the hits' outcome in C (``pipeline_hits.h``) == ``hit_outcome`` and the Python steps."""
    from fraudscore.pipeline import RECORD_EXTRA_FIELDS
    from fraudscore.rules import Rule, RuleSet

    a, b = _pair(clock=lambda: NOW)
    rs = RuleSet([Rule(f"R{i}", w, action=act, score=sc, shadow=sh, priority=pr, reason=reason)
                  for i, (w, act, sc, sh, pr, reason) in enumerate(rules)])
    known = (*a.pipeline.record_fields, *a.pipeline.feature_names)
    for s in (a, b):
        s.ruleset = rs
        s.rules = rs.compile(known, list_transform=s.pipeline.identity.pseudonym,
                             identifier_names=(*s.pipeline.identifier_fields, *RECORD_EXTRA_FIELDS))
    for ev in records()[start:start + 15]:
        assert _answer(a, ev) == _answer(b, ev)
    _same_state(a, b)


def test_reason_objects_built_in_c_equal_the_constructor():
    """A rule reason made in C equals, hashes and prints as ``Reason(code, message, "rule", False)`` and stays frozen."""
    import dataclasses

    from fraudscore.decision import Reason
    from fraudscore.rules import Rule, RuleSet

    a, _ = _pair(clock=lambda: NOW)
    rs = RuleSet([Rule("ALWAYS", "amount > -1e300 or amount < 0 or amount == 0", action="review", reason="why")])
    a.ruleset = rs
    a.rules = rs.compile((*a.pipeline.record_fields, *a.pipeline.feature_names))
    called: list = []  # the Python hit_outcome in the context: called only where the C one hands over
    ctx = list(a._fast)
    ctx[10] = lambda hits: called.append(hits) or scorer_mod.hit_outcome(hits)
    a._fast = tuple(ctx)
    ev = dict(records()[3])
    ev["amount"] = 10.0
    r = a.score(ev, explain=False).reasons[0]
    assert called == []
    want = Reason("ALWAYS", "why", "rule", False)
    assert r == want and hash(r) == hash(want) and repr(r) == repr(want) and vars(r) == vars(want)
    assert list(vars(r)) == list(vars(want))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.code = "X"  # type: ignore[misc]
