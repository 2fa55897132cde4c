"""The compiled record check (``_core.velocity_store.check_record``) == ``plan.check_event``, the reference."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import EventError
from fraudscore.velocity import FeatureSet, FeatureSpec
from fraudscore.velocity.plan import MAX_ABS_VALUE, Plan, check_event
from tests.helpers import compiled_core

core = compiled_core("velocity_store", "the compiled velocity store")

PLAN = Plan(FeatureSet([FeatureSpec("sum", key="applicant_id", field="amount", window="1h"),
                        FeatureSpec("distinct", key="ip", of="device_id", window="1h"),
                        FeatureSpec("count", key=("phone", "email"), window="1h")]))
value = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.integers(-2**70, 2**70), st.booleans(),
                  st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e12, -1e12, 1e12 + 1, 2.5]),
                  st.just(np.int64(3)), st.just(np.float32(2.0)), st.lists(st.integers(), max_size=1))
names = st.sampled_from(["ts", "amount", "applicant_id", "ip", "device_id", "phone", "email", "other"])


def outcome(fn, rec):
    try:
        return ("ok", fn(rec))
    except EventError as exc:
        return ("error", exc.field, str(exc))
    except Exception as exc:  # the reference's own exceptions (e.g. float() overflow) are kept too
        return ("raised", type(exc).__name__)


@settings(deadline=None, max_examples=400)
@given(st.dictionaries(names, value, max_size=8), st.one_of(st.integers(0, 2**62), value))
def test_check_record_equals_check_event(rec, ts):
    rec = {**rec, "ts": ts}
    want = outcome(lambda r: check_event(r, PLAN.numeric_fields, PLAN.key_fields), rec)
    assert outcome(PLAN.validate_record, rec) == want
    fast = core.check_record(rec, PLAN._numeric_tuple, PLAN._key_tuple, MAX_ABS_VALUE)
    if fast is not None:  # the fast path answers only what the reference accepts, with the same ts
        assert want == ("ok", fast) and type(fast) is int


def test_the_fast_path_takes_the_common_record():
    rec = {"ts": 1, "amount": 2.5, "applicant_id": "p:1", "ip": None, "device_id": "d", "phone": "p", "email": "e"}
    assert core.check_record(rec, PLAN._numeric_tuple, PLAN._key_tuple, MAX_ABS_VALUE) == 1
    assert core.check_record(dict(rec, amount=float("nan")), PLAN._numeric_tuple, PLAN._key_tuple, MAX_ABS_VALUE) == 1
    for bad in ({"ts": None}, {"ts": True}, {"amount": 1e13}, {"ip": 3}, {"amount": "1"}):
        assert core.check_record({**rec, **bad}, PLAN._numeric_tuple, PLAN._key_tuple, MAX_ABS_VALUE) is None
    with pytest.raises(EventError):
        PLAN.validate_record({**rec, "amount": 1e13})


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", None]), st.integers(0, 5_000),
                          st.sampled_from(["p:1", "p:2", None]), st.one_of(st.none(), st.floats(-1e3, 1e3)),
                          st.one_of(st.none(), st.tuples(st.sampled_from(["d_1", None]), st.floats(0, 1)))),
                max_size=12))
def test_compiled_apply_outcomes_equal_reference(events):
    """``apply``'s outcome, built in C (``Store.apply_new``), == the reference store's ``Applied``, field by field."""
    from fraudscore.velocity import MemoryStore
    from fraudscore.velocity.memory_compiled import CompiledMemoryStore

    fs = FeatureSet([FeatureSpec("sum", key="applicant_id", field="amount", window="1h"),
                     FeatureSpec("count", key="applicant_id", window="10s")])
    plan = Plan(fs)
    fast, ref = MemoryStore(), MemoryStore(engine="python")
    assert isinstance(fast, CompiledMemoryStore)
    fast.bind(plan)
    ref.bind(plan)
    t = 0
    for app, dt, who, amount, link in events:
        t += dt
        rec = {"application_id": app, "ts": t, "applicant_id": who, "amount": amount}
        a, b = fast.apply(plan, rec, t, link), ref.apply(plan, rec, t, link)
        assert type(a) is type(b)
        assert a.features.tobytes() == b.features.tobytes() and a.features.dtype == b.features.dtype
        assert (a.duplicate, a.link, a.ts) == (b.duplicate, b.link, b.ts)
        assert type(a.duplicate) is bool and type(a.ts) is type(b.ts)
