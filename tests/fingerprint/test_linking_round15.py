"""Round 15's changes to the link kernels == the reference, bit for bit.

* ``as_i64`` (``fraudscore/_core/linkcommon.h``) is inlined, its general case out of line: records whose times,
  counts, IP tokens, components and renderers take every int layout (0, one and two 30-bit digits, longer ints,
  negative values) select as the reference does.
* ``linking.select`` keeps its scratch (candidates, pool, top rows, the tie check's slots) between calls
  (``SCRATCH``): calls of growing and shrinking candidate counts in any order, and a call made from inside another
  (a garbage-collector callback run by an allocation of the outer call's results), give the reference's answer.
"""

from __future__ import annotations

import gc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fingerprint.test_linking_compiled import _full_tie, bits, cases, reference_select
from tests.helpers import compiled_core

core = compiled_core("linking", "the compiled linking module")

K = 24
# ints around the layouts as_i64 reads directly (up to two 30-bit digits) and beyond (the API path)
_EDGES = [0, 1, 2, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, (1 << 60) - 1, 1 << 60, (1 << 61) + 5]
_MAG = st.sampled_from(_EDGES) | st.integers(0, 1 << 62)


def _check(fp, recs, now, ip, max_scored):
    try:
        want = reference_select(fp, recs, now, ip, max_scored)
    except TypeError:  # a full tie the reference settles by comparing dicts: the kernel hands over
        assert core.select(fp, recs, now, ip, max_scored) is None
        return
    got = core.select(fp, recs, now, ip, max_scored)
    if got is None:
        assert _full_tie(fp, recs) or any(r["t"] >= 1 << 62 or now - r["t"] >= 1 << 62 for r in recs)
        return
    n_c, near, raw = got
    assert n_c == want[0] and [id(r) for r in near] == [id(r) for r in want[1]]
    x = memoryview(raw).cast("d")
    assert bits(x[i * K:(i + 1) * K].tolist() for i in range(len(near))) == bits(want[2])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(st.tuples(st.sampled_from(["t", "n", "ip", "r", "fn"]), _MAG, st.booleans()), max_size=12))
def test_ints_of_every_layout_select_as_the_reference(case, edits):
    fp, recs, now, ip, max_scored = case
    if not recs:
        return
    for j, (key, v, neg) in enumerate(edits):
        rec = recs[j % len(recs)]
        if key == "t":  # a time within the kernel's bound (beyond it, the reference answers)
            rec["t"] = min(v, (1 << 61)) * (-1 if neg else 1)
        elif key in ("n", "fn"):
            rec[key] = v % (1 << 40) if key == "fn" else v
        else:
            rec[key] = v
    _check(fp, recs, now, ip, max_scored)


def _copies(recs, m):
    """m copies of every record under new ids (make_record's key order kept)."""
    return [{**r, "id": f"{r['id']}_{j}"} for j in range(m) for r in recs]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cases(), st.sampled_from([1, 1, 3, 9, 20])), min_size=1, max_size=5))
def test_select_in_sequences_of_any_size(calls):
    for (fp, recs, now, ip, max_scored), m in calls:  # the scratch grows past 64 candidates and is reused
        _check(fp, _copies(recs, m), now, ip, max_scored)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(cases())
def test_select_called_from_inside_select(case):
    fp, recs, now, ip, max_scored = case
    inner: list = []
    armed: list = []

    def again(phase, info):  # run by the collection that the outer select's first allocation starts
        if armed and phase == "start" and not inner:
            inner.append(core.select(fp, recs, now, ip, max_scored))

    old = gc.get_threshold()
    gc.callbacks.append(again)
    try:
        gc.set_threshold(1, 1, 1)
        gc.collect()  # the young generation's count is 0 ...
        keep = []  # noqa: F841  (... and 1 now: the next tracked allocation, the outer select's result list, collects)
        armed.append(True)
        got = core.select(fp, recs, now, ip, max_scored)
    finally:
        armed.clear()
        gc.set_threshold(*old)
        gc.callbacks.remove(again)
    try:
        want = reference_select(fp, recs, now, ip, max_scored)
    except TypeError:
        assert got is None
        return
    for res in [got, *inner]:
        if res is None:  # handed over: a nested call finds the scratch busy, or a full tie
            continue
        n_c, near, raw = res
        assert n_c == want[0] and [id(r) for r in near] == [id(r) for r in want[1]]
        x = memoryview(raw).cast("d")
        assert bits(x[i * K:(i + 1) * K].tolist() for i in range(len(near))) == bits(want[2])
    assert got is not None or _full_tie(fp, recs)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cases(), min_size=1, max_size=4), st.booleans())
def test_version_cache_on_and_off(calls, churn):
    """The parsed version lists kept between calls (``VCACHE``) == parsed every call == the reference."""
    try:
        for fp, recs, now, ip, max_scored in calls:
            for on in (True, True, False, True):  # stored, read back, off (emptied), stored again
                core.vcache(on)
                if churn:  # fresh lists of the same values: new objects, new entries
                    for r in recs:
                        for k in ("ov", "bv", "av"):
                            if isinstance(r.get(k), list):
                                r[k] = list(r[k])
                _check(fp, recs, now, ip, max_scored)
    finally:
        core.vcache(True)


def test_version_cache_with_lists_freed_and_made_again():
    """Lists of new contents made (and freed) again and again, as a long stream does: never a stale entry."""
    fp, recs, now, ip, max_scored = _a_case()
    if not recs:
        return
    for i in range(3000):
        for r in recs:
            for k in ("ov", "bv", "av"):
                if isinstance(r.get(k), list):
                    r[k] = [i % 7, (i * 13) % 5, i % 3][: 1 + i % 3]
        _check(fp, recs, now, ip, max_scored)


def _a_case():
    from fraudscore.fingerprint.linkfeatures import make_record
    from tests.fingerprint.test_linking_compiled import FPR, T0

    fp = FPR.fingerprint({"source": "app", "os": "android", "os_version": "12.1", "model": "X1",
                          "manufacturer": "Xiaomi", "screen": "1080x2400", "app_version": "5.3.0", "android_id": "aa"})
    recs = [make_record(fp, f"d{j}", T0 + j, None, 0) for j in range(12)]
    return fp, recs, T0 + 10**6, 5, 8
