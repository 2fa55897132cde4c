"""The compiled exactly-once table (``_core/velocity_results.h``: ``ResultTable``, ``Store.admit`` / ``apply_rec``)
== ``velocity.idempotency.ResultCache``, bit for bit: records, order, bound, expiry, duplicates and snapshot rows."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.velocity.idempotency import Applied, ResultCache
from tests.helpers import compiled_core

core = compiled_core("velocity_store", "the compiled velocity store")

from fraudscore.velocity.memory_compiled import _load_table, _new_table  # noqa: E402

APPS = ["", "A", "B", "C", "D", "E", "é", "A" * 40]
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0), st.just(-0.0))
links = st.one_of(st.none(), st.tuples(st.one_of(st.none(), st.sampled_from(["d_1", "d_2"])),
                                      st.floats(min_value=0, max_value=1)))
times = st.integers(min_value=-10_000, max_value=10_000)
ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(APPS), times, st.lists(values, min_size=2, max_size=2), links,
              st.one_of(st.none(), times)),
    st.tuples(st.just("get"), st.sampled_from(APPS), times, st.one_of(st.none(), times)),
    st.tuples(st.just("reload")),
), max_size=60)


def _same(a: Applied | None, b: Applied | None) -> None:
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert type(a) is type(b) and a.duplicate is b.duplicate is True and a.ts == b.ts and a.link == b.link
        assert a.features.dtype == b.features.dtype == np.float64
        assert a.features.tobytes() == b.features.tobytes()


def _raw_equal(x: list, y: list) -> bool:
    return len(x) == len(y) and all(
        r[0] == s[0] and r[1] == s[1] and r[3] == s[3] and r[4] == s[4] and len(r[2]) == len(s[2])
        and all((u is None and v is None) or (u is not None and v is not None and
                                              np.float64(u).tobytes() == np.float64(v).tobytes())
                for u, v in zip(r[2], s[2]))
        for r, s in zip(x, y))


@settings(deadline=None, max_examples=300)
@given(ops, st.integers(min_value=1, max_value=3_000), st.integers(min_value=1, max_value=6))
def test_table_equals_result_cache(seq, ttl, max_entries):
    ref = ResultCache(ttl, max_entries)
    tab = _new_table(core, ttl, max_entries)
    for op in seq:
        if op[0] == "put":
            _, app, ts, vals, link, wm = op
            f = np.array(vals, dtype=np.float64)
            ref.put(app, Applied(f, False, link, ts), wm)
            tab.put(app, f, ts, link, wm)
        elif op[0] == "get":
            _, app, ts, wm = op
            _same(tab.get(app, ts, wm), ref.get(app, ts, wm))
            _same(tab.get(app, ts), ref.get(app, ts))
        else:  # a snapshot round trip (the rows are JSON: NaN as None)
            rows = ref.to_raw()
            ref = ResultCache(ttl, max_entries)
            ref.load_raw(rows)
            tab = _load_table(core, ttl, max_entries, tab.to_raw())
        assert len(tab) == len(ref)
        assert _raw_equal(tab.to_raw(), ref.to_raw())


def test_load_keeps_a_repeated_id_in_its_first_place():
    rows = [["A", 1, [1.0], None, None], ["B", 2, [2.0], "d", 0.5], ["A", 3, [3.0], None, None]]
    ref = ResultCache(10**9, 10)
    ref.load_raw(rows)
    tab = _load_table(core, 10**9, 10, rows)
    assert tab.to_raw() == ref.to_raw() == [["A", 3, [3.0], None, None], ["B", 2, [2.0], "d", 0.5]]


def test_bad_arguments_leave_the_table_unchanged():
    tab = _new_table(core, 1000, 10)
    tab.put("A", np.array([1.0]), 5, None)
    with pytest.raises(TypeError):
        tab.put(1, np.array([1.0]), 5, None)
    with pytest.raises(TypeError):
        tab.put("B", np.array([1], dtype=np.int64), 5, None)
    with pytest.raises(TypeError):
        tab.get("A", None)
    with pytest.raises(TypeError):
        tab.load([("A", None, np.array([1.0]), None)])
    assert len(tab) == 0  # a failed load leaves an empty table (restore() builds a new one before swapping)
    assert tab.get(5, 5) is None  # a key that is not a str is never found (ids are str(application_id))


def test_store_apply_and_admit_record_as_the_python_store():
    """``Store.apply_rec`` / ``admit`` (the scorer's path) == the reference store, duplicates and expiry included."""
    from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity

    fs = FeatureSet([FeatureSpec("count", key="ip", window="10m"), FeatureSpec("sum", key="ip", field="amount",
                                                                             window="1h")])
    stores = [MemoryStore(engine=e, idempotency_ttl=5_000, max_results=3) for e in ("python", "compiled")]
    vel = [OnlineVelocity(fs, s) for s in stores]
    rng = np.random.default_rng(7)
    t = 0
    for i in range(300):
        t += int(rng.integers(0, 2_000))
        rec = {"application_id": f"A{int(rng.integers(0, 6))}", "ts": t, "ip": f"p:{int(rng.integers(0, 3))}",
               "amount": float(rng.integers(0, 100))}
        outs = [s.apply(v.plan, dict(rec), t, ("d", 0.5) if i % 2 else None) for s, v in zip(stores, vel)]
        assert outs[0].duplicate == outs[1].duplicate and outs[0].ts == outs[1].ts and outs[0].link == outs[1].link
        assert outs[0].features.tobytes() == outs[1].features.tobytes()
        app = rec["application_id"]
        adm = [(stores[0].recall(app, t + 1), stores[0].latest_time()), stores[1].admit(app, t + 1)]
        _same(adm[0][0], adm[1][0])
        assert adm[0][1] == adm[1][1]
        assert stores[0]._results.to_raw() == stores[1]._results.to_raw()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2_000), st.sampled_from(APPS), st.integers(0, 3), st.integers(0, 100),
                          st.booleans()), min_size=1, max_size=40),
       st.integers(1, 4), st.sampled_from([500, 5_000]))
def test_apply_into_equals_apply_rec(rows, max_results, ttl):
    """Round 13: ``Store.apply_into`` (the pipeline's one-call online path: the features written into the caller's
    vector, no array, no ``Applied``) == ``apply_rec``: the same features bit for bit at the offset, the same
    duplicates (the recorded ``Applied``, the vector untouched), the same exactly-once records and store state."""
    from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity
    from fraudscore.velocity.memory_compiled import _APPLIED_SLOTS

    fs = FeatureSet([FeatureSpec("count", key="ip", window="10m"), FeatureSpec("sum", key="ip", field="amount",
                                                                             window="1h")])
    stores = [MemoryStore(engine="compiled", idempotency_ttl=ttl, max_results=max_results) for _ in range(2)]
    vel = [OnlineVelocity(fs, s) for s in stores]
    t = 0
    for dt, app, ip, amount, linked in rows:
        t += dt
        rec = {"application_id": app, "ts": t, "ip": f"p:{ip}", "amount": float(amount)}
        link = ("d", 0.5) if linked else None
        a = stores[0]._core.apply_rec(stores[0]._results, app, vel[0].plan, dict(rec), t, link, Applied,
                                      _APPLIED_SLOTS)
        x = np.full(len(fs.names) + 3, -7.0)
        b = stores[1]._core.apply_into(stores[1]._results, app, vel[1].plan, dict(rec), t, link, x, 2)
        if b is None:  # a new event: its features in x[2:], nothing around them touched
            assert not a.duplicate and x[2:-1].tobytes() == a.features.tobytes()
            assert x[:2].tolist() == [-7.0, -7.0] and x[-1] == -7.0
        else:
            _same(a, b)
            assert (x == -7.0).all()
        assert stores[0]._results.to_raw() == stores[1]._results.to_raw()
        assert stores[0].latest_time() == stores[1].latest_time()
    with pytest.raises(ValueError):
        stores[1]._core.apply_into(stores[1]._results, "Z", vel[1].plan, {"application_id": "Z", "ts": t, "ip": "p:1",
                                                                        "amount": 1.0}, t, None, np.zeros(2), 1)
