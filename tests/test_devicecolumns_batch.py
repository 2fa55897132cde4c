"""fraudscore.devicecolumns, round 14 (#13 batch columns): the batch's fingerprints of distinct device objects
(``fingerprint_distinct``, the compiled builder without ``fingerprint_many``'s content key) == the reference
fingerprints, field by field, and the object-array helpers keep one dimension."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore import devicecolumns as dc
from fraudscore.fingerprint import Fingerprinter, canonical
from fraudscore.identity import columns as idcols
from tests.fingerprint.test_build_compiled import KEYS, devices, reference, reference_fingerprinter, same
from tests.helpers import compiled_core, pure_python

core = compiled_core("fingerprint", "the compiled fingerprint builder")


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(devices, st.none(), st.just({})), max_size=8), st.lists(st.integers(0, 7), max_size=12))
def test_fingerprint_distinct_equals_the_reference(monkeypatch, pool, picks):
    fast = Fingerprinter(KEYS)
    assert fast._build1 is not None  # the compiled builder is what fingerprint_distinct calls
    slow = reference_fingerprinter(monkeypatch)
    values = [pool[p % len(pool)] for p in picks] if pool else []  # the same object on several rows
    codes, firsts = dc._distinct_objects(values)
    got = dc.fingerprint_distinct(fast, firsts)
    many = fast.fingerprint_many(firsts)
    assert len(got) == len(firsts) == len(many)
    for d, g, m in zip(firsts, got, many):
        want = reference(slow, d)
        same(g, want)
        same(m, want)
    assert len(fast._cache or ()) == 0  # the LRU cache is neither read nor filled, as in fingerprint_many


@settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(devices, min_size=1, max_size=4))
def test_equal_mappings_give_equal_fingerprints(monkeypatch, devs):
    fast = Fingerprinter(KEYS)
    copies = [dict(d) for d in devs]  # equal content, distinct objects: built twice, equal results
    got = dc.fingerprint_distinct(fast, devs + copies)
    for a, b in zip(got[: len(devs)], got[len(devs):]):
        same(a, b)


def test_fingerprint_distinct_without_the_compiled_core():
    devs = [{"os": "ios", "model": "iPhone15,2"}, None, {}, {"user_agent": "Mozilla/5.0", "screen": "1080x2400"}]
    with pure_python():
        slow = Fingerprinter(KEYS)
        assert slow._build1 is None
        got = dc.fingerprint_distinct(slow, devs)
    real = canonical._CORE
    try:
        canonical._CORE = None
        want = [Fingerprinter(KEYS, cache_size=0).fingerprint(d) for d in devs]
    finally:
        canonical._CORE = real
    for g, w in zip(got, want):
        same(g, w)


@given(st.lists(st.one_of(st.none(), st.text(max_size=3), st.tuples(st.integers()), st.lists(st.integers(), max_size=2),
                          st.just(np.float64("nan"))), max_size=20))
def test_object_arrays_stay_one_dimensional(values):
    for helper in (dc._objects, idcols._objects):
        arr = helper(values)
        assert arr.shape == (len(values),) and arr.dtype == object
        assert all(a is v for a, v in zip(arr.tolist(), values))


IP_COUNTRY = st.one_of(st.none(), st.just(float("nan")), st.sampled_from(["CN", " cn ", "us", "", "GB", "é"]),
                       st.text(max_size=3))


@settings(deadline=None, max_examples=200)
@given(st.lists(devices, min_size=1, max_size=6), st.lists(st.integers(-1, 5), max_size=15),
       st.lists(IP_COUNTRY, max_size=15), st.booleans(), st.booleans())
def test_device_signal_rows_equal_the_matrix(devs, picks, countries, cold, with_ipc):
    from fraudscore.fingerprint import device_signal_matrix, signals

    fpr = Fingerprinter(KEYS)
    fps = [fp for fp in dc.fingerprint_distinct(fpr, devs) if fp is not None]
    if not fps:
        return
    codes = np.array([p if p < len(fps) else -1 for p in picks], dtype=np.int64)
    ipc = None
    if with_ipc:
        ipc = np.empty(len(codes), dtype=object)
        ipc[:] = (countries + [None] * len(codes))[: len(codes)]
    if cold:  # nothing cached: every static row through the reference that fills the cache
        signals._BUDGET.clear()
    got = dc.device_signal_rows(fps, codes, ipc)
    want = device_signal_matrix(fps, codes, ipc)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(dc.device_signal_rows(fps, codes, ipc), want, equal_nan=True)  # now cached


def test_device_signal_rows_without_the_compiled_read(monkeypatch):
    from fraudscore.fingerprint import device_signal_matrix, signals

    fpr = Fingerprinter(KEYS)
    fps = [fpr.fingerprint({"os": "ios", "timezone": "Asia/Shanghai"}), fpr.fingerprint({"user_agent": "x"})]
    codes = np.array([0, 1, -1, 0])
    ipc = np.array(["CN", "us", None, "gb"], dtype=object)
    monkeypatch.setattr(signals, "_ROW_CORE", None)
    assert np.array_equal(dc.device_signal_rows(fps, codes, ipc), device_signal_matrix(fps, codes, ipc), equal_nan=True)
