"""The compiled event path's guarded attribute reads (round 17, ``_core/attrcache.h``).

Each attribute the compiled ``Scorer.score`` reads (``scorer.model``, ``scorer.rules``, ``pipeline._online_ctx``,
``velocity.store`` ...) goes through an inline cache per use site, guarded by the object's type version tag and
its instance dict's version tag. Two checks hold it to Python's own attribute read:

* ``_core.pipeline.attr(o, name)`` (one such slot) == ``getattr(o, name)`` (the same object, or the same error)
  after every step of a random sequence of changes: instance attributes set and deleted, ``__dict__`` replaced,
  class attributes and properties added and removed on the class and a base, ``__getattr__``, ``__slots__``,
  several objects and names through the same slot;
* a scorer whose cached parts and settings (model, rules, policy, linker, schema, velocity, pipeline, the clock
  skew, the clock, degrade, explain, lazy reasons) are reassigned between events -- on the instance and, through
  a property, on its class -- decides every event as the Python steps of ``Scorer.score`` do (``_fast = None``),
  bit for bit, and ends with the same state.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
import fraudscore.scorer as scorer_mod
from fraudscore.policy import Policy

from .helpers import SECRET, small_bundle
from .test_scorer_decide_compiled import NOW, ConstantModel, _answer, _same_state, records

try:
    from fraudscore._core import pipeline as _pipeline
except ImportError:  # pure-Python build
    _pipeline = None

needs_core = pytest.mark.skipif(_pipeline is None, reason="the compiled pipeline is not built")


class Base:
    shared = "base"


class Plain(Base):
    kind = "plain"


class Hooked(Base):
    def __getattr__(self, name):
        return ("hook", name)


class Slotted:
    __slots__ = ("a", "kind")


OPS = st.sampled_from(["set", "set", "del", "replace_dict", "class_attr", "class_del", "base_attr", "base_del",
                       "property", "property_del", "read_only"])
NAMES = st.sampled_from(["a", "b", "kind", "shared"])


def _read(f, o, name):
    try:
        return ("ok", f(o, name))
    except AttributeError as e:
        return ("error", type(e), str(e))


@needs_core
@settings(max_examples=150)
@given(st.lists(st.tuples(OPS, st.integers(0, 3), NAMES, st.integers(0, 5)), max_size=40), st.data())
def test_attr_equals_getattr_through_every_change(steps, data):
    # fresh classes per example: the class changes do not leak between examples
    base = type("B", (), {"shared": "base"})
    plain = type("P", (base,), {"kind": "plain"})
    hooked = type("H", (base,), {"__getattr__": lambda self, name: ("hook", name)})
    objs = [plain(), plain(), hooked(), Slotted()]
    for op, which, name, value in steps:
        o = objs[which]
        cls = type(o)
        try:
            if op == "set":
                setattr(o, name, value)
            elif op == "del":
                delattr(o, name)
            elif op == "replace_dict" and hasattr(o, "__dict__"):
                o.__dict__ = dict(o.__dict__)
            elif op == "class_attr" and cls is not Slotted:
                setattr(cls, name, ("class", value))
            elif op == "class_del" and cls is not Slotted:
                delattr(cls, name)
            elif op == "base_attr":
                setattr(base, name, ("base", value))
            elif op == "base_del":
                delattr(base, name)
            elif op == "property" and cls is not Slotted:
                setattr(cls, name, property(lambda self, v=value: ("property", v)))
            elif op == "property_del" and cls is not Slotted and isinstance(cls.__dict__.get(name), property):
                delattr(cls, name)
        except (AttributeError, TypeError):
            pass
        # read twice (the miss, then the hit) through the slot, each object and name the draw picks
        for _ in range(2):
            t = objs[data.draw(st.integers(0, 3))]
            n = data.draw(NAMES)
            assert _read(_pipeline.attr, t, n) == _read(getattr, t, n)


@needs_core
def test_attr_keeps_getattrs_errors():
    with pytest.raises(TypeError, match="attribute name must be string"):
        _pipeline.attr(Plain(), 3)
    o = Plain()
    assert _pipeline.attr(o, "kind") == "plain"
    o.kind = "mine"
    assert _pipeline.attr(o, "kind") == "mine"
    del o.kind
    assert _pipeline.attr(o, "kind") == "plain"
    assert _pipeline.attr(Hooked(), "zz") == ("hook", "zz")
    with pytest.raises(AttributeError):
        _pipeline.attr(o, "missing")


pair_needs_decide = pytest.mark.skipif(scorer_mod._DECIDE_CTX is None, reason="the compiled decide is not in use")


class Strict(Policy):
    def decide(self, model_score, rule_action, points):
        return 999, "decline"


def _scorers(cls=fs.Scorer):
    a = cls(small_bundle(), SECRET, clock=lambda: NOW)
    b = cls(small_bundle(), SECRET, clock=lambda: NOW)
    b._fast = None  # the Python steps of Scorer.score: every attribute read by Python
    return a, b


PARTS = ("model", "rules", "policy", "linker", "schema", "velocity", "pipeline")
CHANGES = st.sampled_from(PARTS + ("max_clock_skew_ms", "clock", "degrade", "explain", "lazy_reasons", "none"))


@pair_needs_decide
@settings(max_examples=25)
@given(st.integers(0, 400), st.lists(CHANGES, min_size=4, max_size=30), st.data())
def test_reassigned_parts_decide_as_the_python_steps(start, changes, data):
    a, b = _scorers()
    spare_a, spare_b = _scorers()  # the alternative parts (each side its own, so state evolves alike)
    model = a.model
    recs = records()[start:start + len(changes)]
    for i, (ev, change) in enumerate(zip(recs, changes)):
        ev = dict(ev, application_id=f"R{i}")
        if change == "model":
            p = data.draw(st.sampled_from([None, 0.01, 0.3, 0.5, 0.97]))
            a.model, b.model = (None, None) if p is None else (ConstantModel(model, p), ConstantModel(model, p))
        elif change == "policy":
            pick = data.draw(st.integers(0, 2))
            review = data.draw(st.integers(0, 1001))
            a.policy, b.policy = ((Strict(), Strict()) if pick == 0 else
                                  (Policy(review=review, decline=1001), Policy(review=review, decline=1001)))
        elif change in PARTS:  # swap with the spare's (rules, linker, schema, velocity, pipeline)
            va, vb = getattr(spare_a, change), getattr(spare_b, change)
            setattr(spare_a, change, getattr(a, change))
            setattr(spare_b, change, getattr(b, change))
            setattr(a, change, va)
            setattr(b, change, vb)
        elif change == "max_clock_skew_ms":
            a.max_clock_skew_ms = b.max_clock_skew_ms = data.draw(st.sampled_from([None, 0, 300_000]))
        elif change == "clock":
            t = data.draw(st.sampled_from([NOW, 0]))
            a.clock = b.clock = (lambda t=t: t)
        elif change == "degrade":
            a.degrade = b.degrade = data.draw(st.booleans())
        elif change == "explain":
            a.explain = b.explain = data.draw(st.sampled_from([True, False, "auto"]))
        elif change == "lazy_reasons":
            a.lazy_reasons = b.lazy_reasons = data.draw(st.booleans())
        assert _answer(a, ev) == _answer(b, ev), (i, change)
    _same_state(a, b)
    _same_state(spare_a, spare_b)


@pair_needs_decide
def test_a_class_level_change_is_seen():
    """A property added to (and removed from) the scorer's class shadows the instance's attribute at once."""

    class MyScorer(fs.Scorer):
        pass

    a, b = _scorers(MyScorer)
    recs = records()[:30]
    for ev in recs[:10]:
        assert _answer(a, ev) == _answer(b, ev)
    MyScorer.policy = property(lambda self: Strict(), lambda self, v: None)
    for ev in recs[10:20]:
        ra = _answer(a, ev)
        assert ra == _answer(b, ev)
        assert ra[0] != "decision" or (ra[2]["action"], ra[2]["score"]) == ("decline", 999)
    del MyScorer.policy
    for ev in recs[20:30]:
        assert _answer(a, ev) == _answer(b, ev)
    a.__dict__ = dict(a.__dict__)  # a replaced instance dict
    a.model = ConstantModel(a.model, 0.9)
    b.model = ConstantModel(b.model, 0.9)
    for i, ev in enumerate(recs[:10]):
        ev = dict(ev, application_id=f"C{i}")
        assert _answer(a, ev) == _answer(b, ev)
    _same_state(a, b)


# -- the position hints (dict_layout.h's dict_hint_get): the validator's reads of the event, check_record's and the
# velocity store's reads of the record. A hint is only a guess of where the key sits; these events move, delete,
# re-add and replace their keys (equal but not identical str objects, keys of the str-keys and general tables)
# between reads, and every answer must stay the Python reference's.

HINT_SCHEMA = None


def _hint_schema():
    global HINT_SCHEMA
    if HINT_SCHEMA is None:
        from fraudscore.schema import Field, Schema

        HINT_SCHEMA = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
                              Field("n", "int", minimum=0, maximum=100), Field("x", "float"),
                              Field("kind", "category"), Field("phone", "str")),
                             id_field="id", time_field="at", allow_extra=True)
    return HINT_SCHEMA


def _fresh(name: str) -> str:
    return "".join(list(name))  # equal, not the same object


def _validate(schema, ev):
    from fraudscore.errors import EventError

    try:
        return ("ok", sorted((k, repr(v)) for k, v in schema.validate(ev).items()))
    except EventError as e:
        return ("error", str(e), e.field)


@settings(max_examples=150)
@given(st.lists(st.tuples(st.permutations(["id", "at", "n", "x", "kind", "phone", "extra"]),
                          st.lists(st.sampled_from(["n", "x", "kind", "phone"]), max_size=2),
                          st.booleans(), st.booleans(), st.integers(0, 100)), min_size=1, max_size=12))
def test_validator_hints_follow_moved_keys(events):
    import copy

    schema = _hint_schema()
    ref = copy.copy(schema)
    object.__setattr__(ref, "_fast", None)  # the Python reference
    values = {"id": "A", "at": 1_700_000_000_000, "x": 2.5, "kind": "web", "phone": "+8613800138000", "extra": 1}
    for order, dropped, fresh, general, n in events:
        ev = {}
        if general:
            ev[1] = "a non-str key: a general-keys table"
        for k in order:
            ev[_fresh(k) if fresh else k] = n if k == "n" else values[k]
        for k in set(dropped):  # deleted entries left in the table
            del ev[k]
        if general:
            del ev[1]
        assert _validate(schema, ev) == _validate(ref, ev)


@pytest.mark.skipif(_pipeline is None, reason="the compiled core is not built")
@settings(max_examples=150)
@given(st.lists(st.tuples(st.permutations(["ts", "a", "b", "u", "v"]), st.lists(st.sampled_from(["a", "u"]), max_size=1),
                          st.booleans(), st.sampled_from([None, "s", 3, 2.5, 1e30])), min_size=1, max_size=12))
def test_check_record_hints_follow_moved_keys(records_):
    from fraudscore._core import velocity_store as vs

    for order, dropped, fresh, value in records_:
        rec = {}
        for k in order:
            rec[_fresh(k) if fresh else k] = 5 if k == "ts" else value
        for k in dropped:
            del rec[k]
        got = vs.check_record(rec, ("u", "v"), ("a", "b"), 1e20)
        ok = all(rec.get(k) is None or type(rec.get(k)) is str for k in ("a", "b")) and all(
            rec.get(k) is None or (type(rec.get(k)) in (int, float) and abs(rec.get(k)) <= 1e20) for k in ("u", "v"))
        assert got == (5 if ok else None)
