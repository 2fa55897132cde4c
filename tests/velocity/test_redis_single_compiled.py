"""The compiled groups of a single node's event call == their Python reference (no server needed).

``fraudscore._core.redis_calls.single_groups`` (``_core/redis_single.h``) against
``SlotCalls._single_groups_py``: the same entity keys, rows and device dependence, the same memo of entity
keys afterwards (entries and order, cleared at the same point when full), or the same exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore._redis import tag
from fraudscore.velocity import FeatureSet, FeatureSpec, RedisStore
from fraudscore.velocity.plan import Plan
from tests.helpers import compiled_core

core = compiled_core("redis_calls", "the compiled Redis call packer")

_FS = FeatureSet([
    FeatureSpec("count", key="ip", window="1h"),
    FeatureSpec("distinct", key="ip", of="phone", window="1d"),
    FeatureSpec("sum", key="phone", field="amount", window="1h"),
    FeatureSpec("mean", key="card", field="amount", window="1d"),
    FeatureSpec("max", key="card", field="term", window="1d"),
    FeatureSpec("count", key="device_id", window="1d"),
    FeatureSpec("distinct", key="phone", of="device_id", window="7d"),
    FeatureSpec("count", key=("ip", "phone"), window="1d"),
    FeatureSpec("time_since_last", key="email", window="7d"),
    FeatureSpec("fraud_count", key="email", window="7d", delay=0),
    FeatureSpec("count", key="phone", window="1d", filter={"channel": "web"}),
])

_ID = st.one_of(st.none(), st.sampled_from(["a", "b", "1", "\u00e9t\u00e9", "", "\udc80"]), st.text(max_size=6),
                st.integers(-3, 3))
_DEVICE = st.one_of(st.none(), st.sampled_from(["d_fam1_00aa11bb22cc", "d_fam2_x", "d__", "d___", "dx", "d_a_b_c",
                                                "d_\u00e9t\u00e9_1", "d_\ud800_x", "d_a_\ud800", "_d_a_b"]),
                    st.text(max_size=8), st.integers(0, 3))
_RECORD = st.fixed_dictionaries({
    "ip": _ID, "phone": _ID, "email": _ID, "device_id": _DEVICE,
    "amount": st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                        st.sampled_from([0.0000025, 0.0000035, -0.0000005, 2.5e-7, 10**400, True, "1.5", 1e300])),
    "term": st.one_of(st.none(), st.integers(0, 36), st.floats(0, 100), st.just(float("nan"))),
    "card": _ID,
    "application_id": st.one_of(st.none(), st.text(max_size=5)),
    "channel": st.sampled_from(["web", "app"]),
})


def _store(linked: bool, shards: int, cap: int) -> RedisStore:
    s = RedisStore(object(), shards=shards)
    s.bind(Plan(_FS))
    if linked:
        s.link_state()
    s._ekeys_cap = cap
    return s


def _outcome(f: Any, *args: Any) -> Any:
    try:
        return "ok", f(*args)
    except Exception as exc:  # noqa: BLE001 - compared by type
        return "raised", type(exc)


@settings(max_examples=150)
@given(st.lists(_RECORD, min_size=1, max_size=12), st.booleans(), st.sampled_from([1, 7, 64]),
       st.sampled_from([1, 2, 4, 65_536]), st.integers(1_600_000_000_000, 1_800_000_000_000))
def test_single_groups_are_the_reference(records, linked, shards, cap, ts):
    compiled, reference = _store(linked, shards, cap), _store(linked, shards, cap)
    for rec in records:
        got = _outcome(lambda r: core.single_groups(compiled._single_spec(), compiled._single_ctx(), compiled._ekeys,
                                                    r, ts, compiled._link_state.shards if linked else 0, cap,
                                                    compiled._entity_key), dict(rec))
        want = _outcome(reference._single_groups_py, dict(rec), ts)
        assert got == want
        assert [list(e.items()) for e in compiled._ekeys] == [list(e.items()) for e in reference._ekeys]


def test_the_plan_covers_both_row_paths():
    """Groups whose rows the compiled path makes from the record, and one (with a filter) through ``extract``."""
    from fraudscore.velocity.redis_slots import _slots

    got = [_slots(m) is not None for m in _store(False, 64, 16)._meta if m.codes]
    assert any(got) and not all(got)


def test_single_call_takes_the_compiled_groups():
    """``_single_call`` builds the same call with the compiled groups as with the reference."""
    store = _store(False, 64, 65_536)
    rec = {"ip": "1.2.3.0", "phone": "p1", "email": "e1", "device_id": "d_f_1", "amount": 10,
           "application_id": "A1"}
    c = store._single_call(dict(rec), 1_700_000_000_000, "A1", None, b"", False, b"\0" * 8, False)
    keys, groups, dev = store._single_groups_py(dict(rec), 1_700_000_000_000)
    assert (c.keys, c.groups, c.device_dependent) == (keys, groups, dev)
    assert len(keys) == 5 and dev


def test_a_device_keyed_key_is_in_its_family_shard():
    store = _store(True, 64, 65_536)
    did = "d_fam1_00aa11bb22cc"
    keys = store._single_call({"device_id": did}, 1, "", None, b"", False, b"\0" * 8, False).keys
    assert keys == [store._single_groups_py({"device_id": did}, 1)[0][0]]
    assert tag(store.prefix, store.link_state().device_shard(did)) in keys[0]


def test_single_groups_refuses_bad_arguments():
    store = _store(False, 64, 16)
    with pytest.raises(TypeError):
        core.single_groups(store._single_spec(), store._single_ctx(), store._ekeys, [("ip", "x")], 1, 0, 16,
                           store._entity_key)
    with pytest.raises(TypeError):
        core.single_groups(store._single_spec(), store._single_ctx(), store._ekeys[:1], {}, 1, 0, 16,
                           store._entity_key)


def _cluster_calls(store, rec, ts):
    calls = store._calls(dict(rec), ts, "A1", None, b"", False, b"\0" * 8)
    return [(c.tag, c.keys, c.groups, c.device_dependent, c.ctx, c.anchor) for c in calls]


@settings(max_examples=60)
@given(st.lists(_RECORD, min_size=1, max_size=6), st.booleans(), st.sampled_from([1, 7, 64]),
       st.integers(1_600_000_000_000, 1_800_000_000_000))
def test_cluster_calls_take_the_compiled_groups(records, linked, shards, ts):
    """On a cluster the calls are routed from the same compiled groups: the same calls as the reference loop."""
    pytest.importorskip("redis")
    import fraudscore.velocity.redis_slots as slots

    compiled, reference = _store(linked, shards, 65_536), _store(linked, shards, 65_536)
    compiled._cluster = reference._cluster = True
    for rec in records:
        got = _outcome(_cluster_calls, compiled, rec, ts)
        saved = slots._SINGLE
        slots._SINGLE = None
        try:
            want = _outcome(_cluster_calls, reference, rec, ts)
        finally:
            slots._SINGLE = saved
        assert got == want
