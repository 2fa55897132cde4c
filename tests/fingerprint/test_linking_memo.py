"""Round 14's memos of the link kernels == the reference, bit for bit.

* ``linking.pick`` reads the time and id of the records ``linking.select`` handed back last from a memo keyed by
  the dicts' addresses and version tags (``fraudscore/_core/linking.c``, ``SEL_MEMO``): records edited in place,
  replaced or reordered after the select still give the reference's pick.
* ``linker.best_candidate`` (the C glue) remembers its checks of the linker, its model and the forest by their
  instance dicts' version tags (``fraudscore/_core/linker.c``, ``BC_MEMO``): a setting, a model, a ``predict`` or a
  forest replaced between calls is seen at once.
* End to end: a simulated stream linked with the memos on, with them off and with ``FRAUDSCORE_PURE_PYTHON=1``
  gives identical LinkResults and states.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState
from fraudscore.fingerprint.linker_kernels import _glue_kernel
from fraudscore.fingerprint.linkmodel import LinkModel, default_link_model
from fraudscore.fingerprint.simulate import simulate
from tests.fingerprint.test_linking_compiled import FPR, _full_tie, bits, cases, reference_select
from tests.fingerprint.test_linkstate_compiled import ckeys, reference_keys
from tests.helpers import compiled_core

core = compiled_core("linking", "the compiled linking module")
glue = compiled_core("linker", "the compiled linker glue")


def _reference_pick(ps, recs):
    return min(range(len(recs)), key=lambda i: (-ps[i], -recs[i]["t"], recs[i]["id"]))


_EDIT = st.sampled_from(["t", "id", "replace", "swap", "same", "drop"])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(st.tuples(st.integers(0, 63), _EDIT, st.integers(0, 10**6)), max_size=6),
       st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=64, max_size=64))
def test_pick_after_select_follows_edits(case, edits, probs):
    fp, recs, now, ip, max_scored = case
    got = core.select(fp, recs, now, ip, max_scored)
    if got is None or not got[1]:
        return
    near = list(got[1])
    for i, what, v in edits:
        i %= len(near)
        if what == "t":  # an edit in place: a new version tag
            near[i]["t"] = near[i]["t"] + v % 3 - 1
        elif what == "id":
            near[i]["id"] = f"z{v % 5}"
        elif what == "replace":  # a new dict in its place
            near[i] = {**near[i], "t": near[i]["t"] + v % 2}
        elif what == "swap":
            j = v % len(near)
            near[i], near[j] = near[j], near[i]
        elif what == "drop" and len(near) > 1:
            del near[i]
    ps = array("d", probs[:len(near)])
    if len({(-ps[i], -r["t"], r["id"]) for i, r in enumerate(near)}) < len(near):
        return  # a full tie: the reference compares dicts (pick hands over with -1)
    want = _reference_pick(ps, near)
    assert core.pick_memo()
    on = core.pick(ps, near)
    core.pick_memo(False)
    try:
        off = core.pick(ps, near)
    finally:
        core.pick_memo(True)
    assert on == off == want


def test_pick_memo_switch():
    assert core.pick_memo() in (True, False)
    core.pick_memo(False)
    assert core.pick_memo() is False
    core.pick_memo(True)
    ps = array("d", [0.5, 0.5])
    recs = [{"t": 1, "id": "b"}, {"t": 1, "id": "a"}]
    assert core.pick(ps, recs) == 1


def _both(linker, fp, recs, now, ip):
    """best_candidate with the glue's memo on (twice: the second call reads it) and off; all three equal."""
    assert glue.glue_memo() is True
    a = linker.best_candidate(fp, recs, now, ip)
    b = linker.best_candidate(fp, recs, now, ip)
    glue.glue_memo(False)
    try:
        c = linker.best_candidate(fp, recs, now, ip)
    finally:
        glue.glue_memo(True)
    key = [None if r is None else (struct.pack("<d", r[0]), id(r[1])) for r in (a, b, c)]
    assert key[0] == key[1] == key[2]
    return a


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=30)
@given(cases())
def test_best_candidate_memo_sees_replaced_settings(case):
    fp, recs, now, ip, max_scored = case
    linker = DeviceLinker(max_scored=max_scored)
    assert _glue_kernel() is glue
    try:
        want = linker.best_candidate_reference(fp, recs, now, ip)
    except TypeError:
        return
    got = _both(linker, fp, recs, now, ip)
    assert (got is None) == (want is None)
    if want is not None:
        assert struct.pack("<d", got[0]) == struct.pack("<d", want[0]) and got[1] is want[1]
    # a setting replaced on the instance: the next call reads the new value
    linker.max_scored = 1
    want1 = linker.best_candidate_reference(fp, recs, now, ip)
    got1 = _both(linker, fp, recs, now, ip)
    assert (got1 is None) == (want1 is None)
    if want1 is not None:
        assert struct.pack("<d", got1[0]) == struct.pack("<d", want1[0]) and got1[1] is want1[1]


def test_best_candidate_memo_sees_a_replaced_model_and_predict():
    s = simulate("web", n_devices=40, days=10, seed=5)
    fps = [FPR.fingerprint(d) for d in s.devices]
    ts = s.ts.tolist()
    linker = DeviceLinker(MemoryLinkState())
    m = len(fps) * 3 // 4
    for fp, t in zip(fps[:m], ts[:m]):
        linker.link(fp, t)
    recs = list(linker.state._devices.values())
    probes = [(fp, t, linker.best_candidate(fp, recs, t, 0)) for fp, t in zip(fps[m:], ts[m:])]
    fp, now, base = next(p for p in probes if p[2] is not None)
    calls = []
    model = linker.model
    real = model.predict

    def spy(x):
        calls.append(1)
        return real(x)

    model.predict = spy  # the model's dict changes: the glue hands over to the reference, which calls predict
    try:
        got = linker.best_candidate(fp, recs, now, 0)
    finally:
        model.predict = real
    assert calls and got[1] is base[1] and got[0] == base[0]

    class Half(LinkModel):
        pass

    other = Half(default_link_model().text)
    linker.model = other  # a model of another type: the reference path, through the new model
    got = linker.best_candidate(fp, recs, now, 0)
    assert got == linker.best_candidate_reference(fp, recs, now, 0)
    linker.model = LinkModel(default_link_model().text)  # a new model of the same type: read afresh
    assert linker.best_candidate(fp, recs, now, 0)[1] is base[1]


def _link_stream(scenario, seed, pure, memos, monkeypatch):
    if pure:
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    else:
        monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
    core.pick_memo(memos)
    glue.glue_memo(memos)
    try:
        linker = DeviceLinker(MemoryLinkState(max_per_block=16))
        s = simulate(scenario, n_devices=120, days=30, seed=seed)
        fps = [FPR.fingerprint(d) for d in s.devices]
        out = [linker.link(fp, t, ip) for fp, t, ip in zip(fps, s.ts.tolist(), s.ip_prefix.tolist())]
    finally:
        core.pick_memo(True)
        glue.glue_memo(True)
    return out, linker.state.to_dict()


@pytest.mark.parametrize("scenario", ["web", "mixed", "legacy"])
def test_stream_links_identically_with_and_without_the_memos(monkeypatch, scenario):
    on = _link_stream(scenario, 11, False, True, monkeypatch)
    off = _link_stream(scenario, 11, False, False, monkeypatch)
    ref = _link_stream(scenario, 11, True, True, monkeypatch)
    assert on == off == ref
    assert {r.how for r in on[0]} >= {"new", "exact"}


_RESHAPE = st.sampled_from(["as_made", "copy", "reinsert", "extra", "reversed", "missing_value_type", "split"])


class _Holder:  # an instance whose __dict__ is a split-table dict with the record's keys
    pass


def _reshape(rec, how, i):
    """The same record in another dict layout (the kernel reads make_record's layout in place, others by lookup)."""
    if how == "copy":
        return dict(rec)
    if how == "reinsert":  # a key deleted and added again: another entry order
        r = dict(rec)
        key = list(r)[i % len(r)]
        v = r.pop(key)
        r[key] = v
        return r
    if how == "extra":
        return {**rec, "zz": 1}
    if how == "reversed":
        return dict(reversed(list(rec.items())))
    if how == "missing_value_type":  # a value the kernel cannot read: it hands over
        return {**rec, "c": tuple(rec["c"])}
    if how == "split":
        h = _Holder()
        h.__dict__.update(rec)
        return h.__dict__
    return rec


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(_RESHAPE, min_size=24, max_size=24))
def test_records_in_any_layout_select_as_the_reference(case, shapes):
    fp, recs, now, ip, max_scored = case
    recs = [_reshape(r, shapes[i], i) for i, r in enumerate(recs)]
    assert core.pack_direct()
    _check_layouts(fp, recs, now, ip, max_scored)
    core.pack_direct(False)
    try:
        _check_layouts(fp, [dict(r) for r in recs], now, ip, max_scored)  # new dicts: packed again, by lookup
    finally:
        core.pack_direct(True)


def _check_layouts(fp, recs, now, ip, max_scored):
    try:
        want = reference_select(fp, recs, now, ip, max_scored)
    except TypeError:
        assert core.select(fp, recs, now, ip, max_scored) is None
        return
    got = core.select(fp, recs, now, ip, max_scored)
    if got is None:  # a full tie, or a record the kernel does not read (a tuple of components): the reference's
        assert _full_tie(fp, recs) or any(type(r["c"]) is not list for r in recs)
        return
    n_c, near, raw = got
    assert n_c == want[0] and [id(r) for r in near] == [id(r) for r in want[1]]
    x = memoryview(raw).cast("d")
    k = len(want[2][0]) if want[2] else 0
    assert bits(x[i * k:(i + 1) * k].tolist() for i in range(len(near))) == bits(want[2])


_MAGNITUDE = st.one_of(st.integers(0, 9), st.integers(0, 10**8 + 7), st.sampled_from([10**8 - 1, 10**8, 10**16 - 1,
                                                                                         10**16, 10**16 + 1]),
                       st.integers(0, 2**58 - 1))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([{"os": "android", "model": "X1", "android_id": "aa", "fonts": ["A"]},
                        {"source": "web", "platform": "Win32", "fonts": ["Arial", "B"], "user_agent": "Mozilla/5.0 ("
                         "Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                         "Safari/537.36"}]),
       st.lists(_MAGNITUDE, min_size=14, max_size=14))
def test_keys_of_components_of_any_magnitude_equal_the_reference(dev, comps):
    """The class key's decimal text (``_core/linkstate_keys.h`` ``sb_dec``) of
    component values of every length up to 2**58, zeros and powers of ten included: the reference's keys."""
    fp = replace(FPR.fingerprint(dev), components=tuple(comps))
    assert ckeys(fp) == reference_keys(fp)


def test_keys_while_the_int_memo_churns():
    """The family count keys' ints come from a 4,096-entry memo by value (``linkstate_keys.h`` ``key_int``, round
    14): thousands of distinct component values (entries replaced again and again), each fingerprint's keys ==
    the reference's, and keys computed earlier keep their values."""
    import random

    rnd = random.Random(14)
    base = FPR.fingerprint({"os": "android", "model": "X1", "android_id": "aa", "fonts": ["A"]})
    pool = [rnd.randrange(1, 2**48) for _ in range(3000)]
    kept = []
    for k in range(600):
        fp = replace(base, components=tuple(rnd.choice(pool) if rnd.random() < 0.9 else 0 for _ in range(14)))
        got = ckeys(fp)
        assert got == reference_keys(fp)
        kept.append((got, fp))
    for got, fp in kept[::37]:
        assert got == reference_keys(fp)
