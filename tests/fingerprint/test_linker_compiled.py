"""The compiled link glue (fraudscore/_core/linker.c) == the Python it replaces, bit for bit.

``best_candidate`` against ``DeviceLinker.best_candidate`` (and the pure-Python reference) on the candidates of
random streams; ``new_device_id`` against ``linker.new_device_id`` on arbitrary text and times; ``link_rows``
(the batch link loop in one C call) against the Python loop of ``devicecolumns.link_rows`` over the same
compiled linker, against a pure-Python linker (``FRAUDSCORE_PURE_PYTHON=1``) and against linking the events one
by one (batch == online): equal device ids, confidences (bit for bit), link results and final states. Every
hand-over (another select, model or pick, LightGBM's path, a tie the pick cannot settle, a scoped or subclassed
linker, an exception mid-loop) answers as the Python code does.
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fraudscore.devicecolumns as dc
from fraudscore._core import load
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, MemoryLinkState, NetworkScope
from fraudscore.fingerprint.linker import new_device_id
from fraudscore.fingerprint.linker_kernels import _glue_kernel

from .test_linkstate_compiled import FPR, T0, dump, pure_python, streams

glue = _glue_kernel()
if glue is None:  # pragma: no cover - only without the extension (the sibling module enforces it in CI)
    pytest.skip("the compiled linker glue is not built", allow_module_level=True)


@contextmanager
def python_loop():
    """``devicecolumns.link_rows`` with its Python loop (the compiled linker's kernels stay in use)."""
    old = dc.load_core
    dc.load_core = lambda name: None if name == "linker" else old(name)
    try:
        yield
    finally:
        dc.load_core = old


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def batch_case(case, draw_rows):
    """The stream as a batch: n rows, the events' fingerprints at ``rows`` (in order), times and IP tokens."""
    pool, events, params, state_params = case
    n = len(events) + draw_rows
    rows = np.array(sorted(np.random.default_rng(len(events) + draw_rows).choice(n, len(events), replace=False)),
                    dtype=np.int64)
    fps = np.empty(len(events), dtype=object)
    fps[:] = [pool[i] for i, _, _ in events]
    ts = np.zeros(n, dtype=np.int64)
    ips = np.full(n, None, dtype=object)
    now = T0
    for j, (_, step, ip) in enumerate(events):
        now += step
        ts[rows[j]] = now
        ips[rows[j]] = ip
    return fps, ts, rows, ips, n, params, state_params


# ---- link_rows --------------------------------------------------------------------------------------------------
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.integers(0, 5))
def test_link_rows_equal_the_python_loop_the_reference_and_online(case, extra):
    fps, ts, rows, ips, n, params, state_params = batch_case(case, extra)
    compiled = DeviceLinker(MemoryLinkState(**state_params), **params)
    got_ids, got_conf = dc.link_rows(fps, ts, rows, ips, compiled, n)
    with python_loop():  # the same compiled linker, the Python loop
        loop = DeviceLinker(MemoryLinkState(**state_params), **params)
        loop_ids, loop_conf = dc.link_rows(fps, ts, rows, ips, loop, n)
    with pure_python():  # everything the reference
        ref = DeviceLinker(MemoryLinkState(**state_params), **params)
        assert ref._link_entry is None
        ref_ids, ref_conf = dc.link_rows(fps, ts, rows, ips, ref, n)
    online = DeviceLinker(MemoryLinkState(**state_params), **params)  # batch == online
    on_ids, on_conf = np.full(n, None, dtype=object), np.full(n, np.nan)
    for fp, i in zip(fps, rows):
        res = online.link(fp, int(ts[i]), ips[i])
        on_conf[i] = res.link_confidence
        on_ids[i] = res.device_id if res.link_confidence >= MIN_LINK_CONFIDENCE else None
    for ids, conf in ((loop_ids, loop_conf), (ref_ids, ref_conf), (on_ids, on_conf)):
        assert got_ids.tolist() == ids.tolist()
        assert same_bits(got_conf, conf)
    assert all(type(d) is str for d in got_ids.tolist() if d is not None)
    assert dump(compiled.state) == dump(loop.state) == dump(ref.state) == dump(online.state)
    assert compiled.state.live_evictions == ref.state.live_evictions


def test_link_rows_through_link_for_other_linkers():
    """A scoped linker (its link() is an instance attribute), a subclass, a linker whose entry is gone: every row
    goes through ``linker.link``, as the Python loop does."""
    desk = {"source": "web", "platform": "Win32", "screen": "1920x1080", "timezone": "Asia/Shanghai",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.0.0 Safari/537.36"}
    phone = {"os": "android", "model": "X1", "screen": "1080x2400", "timezone": "Asia/Shanghai"}
    pool = [FPR.fingerprint(d) for d in (desk, {**desk, "timezone": "Asia/Tokyo"}, phone,
                                         {**phone, "android_id": "aa"})]
    fps = np.empty(12, dtype=object)
    fps[:] = [pool[k % 4] for k in range(12)]
    rows = np.arange(12, dtype=np.int64)
    ts = T0 + np.arange(12, dtype=np.int64) * 1000
    ips = np.array(["10.0.0", "10.0.1", None, 5] * 3, dtype=object)

    class Mine(DeviceLinker):
        pass

    def make(kind):
        if kind == "scoped":
            return DeviceLinker(MemoryLinkState(), network=NetworkScope())
        if kind == "subclass":
            return Mine(MemoryLinkState())
        lk = DeviceLinker(MemoryLinkState())
        lk._link_entry = None
        return lk

    for kind in ("scoped", "subclass", "no entry"):
        a, b = make(kind), make(kind)
        got = dc.link_rows(fps, ts, rows, ips, a, 12)
        with python_loop():
            want = dc.link_rows(fps, ts, rows, ips, b, 12)
        assert got[0].tolist() == want[0].tolist() and same_bits(got[1], want[1]), kind
        assert dump(a.state) == dump(b.state), kind


def test_link_rows_raise_as_the_loop_does():
    """An exception from a row's link propagates; the rows before it are linked, as in the Python loop."""
    fp = FPR.fingerprint({"os": "android", "model": "X1", "screen": "1080x2400"})
    fps = np.empty(3, dtype=object)
    fps[:] = [fp, "not a fingerprint", fp]
    rows = np.arange(3, dtype=np.int64)
    ts = T0 + rows

    def run(loop):
        lk = DeviceLinker(MemoryLinkState())
        with python_loop() if loop else nullcontext(), pytest.raises(Exception) as err:
            dc.link_rows(fps, ts, rows, None, lk, 3)
        return lk, type(err.value), str(err.value)

    (a, ta, ma), (b, tb, mb) = run(False), run(True)
    assert (ta, ma) == (tb, mb)
    assert dump(a.state) == dump(b.state) and len(a.state._devices) == 1
    with pytest.raises(TypeError):
        glue.link_rows(DeviceLinker(), (fp,), [T0], [0], [None], MIN_LINK_CONFIDENCE)   # not lists
    with pytest.raises(IndexError):
        glue.link_rows(DeviceLinker(), [fp], [T0], [3], [None], MIN_LINK_CONFIDENCE)     # a row beyond ts


# ---- best_candidate ---------------------------------------------------------------------------------------------
def candidates_of(case):
    """(linker, fp, records, now, ip) at every event of the stream (the state's records as candidates)."""
    pool, events, params, state_params = case
    linker = DeviceLinker(MemoryLinkState(**state_params), **params)
    now = T0
    for i, step, ip in events:
        now += step
        iph = 0 if ip is None else ip if isinstance(ip, int) else 12345
        yield linker, pool[i], list(linker.state._devices.values()), now, iph
        linker.link(pool[i], now, ip)


def same_best(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a[1] is b[1] and math.copysign(1, a[0]) == math.copysign(1, b[0]) and \
        np.float64(a[0]).view(np.int64) == np.float64(b[0]).view(np.int64)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_best_candidate_equals_the_method_and_the_reference(case):
    for linker, fp, recs, now, ip in candidates_of(case):
        got = glue.best_candidate(linker, fp, recs, now, ip)
        want = DeviceLinker.best_candidate(linker, fp, recs, now, ip)
        assert same_best(got, want)
        ref = linker.best_candidate_reference(fp, recs, now, ip)
        assert (got is None) == (ref is None)
        if got is not None:
            assert got[0] == ref[0] and got[1]["id"] == ref[1]["id"]


def test_best_candidate_hands_over_to_the_method():
    """Another select, pick, model path or forest: the Python method answers (same objects, same calls)."""
    app = {"source": "app", "os": "android", "os_version": "13", "model": "X1", "manufacturer": "Xiaomi",
           "screen": "1080x2400", "app_version": "5.1.0", "timezone": "Asia/Shanghai"}
    linker = DeviceLinker(MemoryLinkState(), min_family_devices=1, mobile_prior=1.0)
    for k in range(6):
        linker.link(FPR.fingerprint({**app, "screen": f"{1000 + k}x2400"}), T0 + k)
    fp = FPR.fingerprint({**app, "app_version": "5.2.0", "screen": "1003x2400"})
    recs = list(linker.state._devices.values())
    want = DeviceLinker.best_candidate(linker, fp, recs, T0 + 10, 0)
    assert want is not None and same_best(glue.best_candidate(linker, fp, recs, T0 + 10, 0), want)
    seen = []
    model = linker.model
    linker.model = replace_predict(model, seen)                               # LightGBM's path: every row
    assert same_best(glue.best_candidate(linker, fp, recs, T0 + 10, 0),
                     DeviceLinker.best_candidate(linker, fp, recs, T0 + 10, 0)) and seen
    linker.model = model
    linker._select = None                                                     # the reference's selection
    assert glue.best_candidate(linker, fp, recs, T0 + 10, 0) == linker.best_candidate_reference(fp, recs, T0 + 10, 0)
    linker._select = load("linking").select
    linker._pick = lambda ps, near: -1                                         # a pick that cannot decide
    got = glue.best_candidate(linker, fp, recs, T0 + 10, 0)
    assert got == DeviceLinker.best_candidate(linker, fp, recs, T0 + 10, 0)
    assert glue.best_candidate(linker, fp, [], T0 + 10, 0) is None
    with pytest.raises(TypeError):
        glue.best_candidate(linker, fp, recs)


def replace_predict(model, seen):
    """A copy of ``model`` whose ``predict`` is replaced (so ``best_rows`` scores every row through it)."""
    import copy

    m = copy.copy(model)
    one = model.predict

    def predict(x):
        seen.append(1)
        return one(x)

    m.predict = predict
    return m


def test_ties_the_pick_cannot_settle_go_to_the_method():
    """Two records equal in probability, last sighting and id: the reference compares records; so does the
    fallback."""
    app = {"source": "app", "os": "android", "os_version": "13", "model": "X1", "manufacturer": "Xiaomi",
           "screen": "1080x2400", "app_version": "5.1.0"}
    linker = DeviceLinker(MemoryLinkState(), min_family_devices=1, mobile_prior=1.0)
    linker.link(FPR.fingerprint(app), T0)
    rec = next(iter(linker.state._devices.values()))
    recs = [rec, dict(rec)]
    fp = FPR.fingerprint({**app, "app_version": "5.2.0"})
    assert same_best(glue.best_candidate(linker, fp, recs, T0 + 5, 0),
                     DeviceLinker.best_candidate(linker, fp, recs, T0 + 5, 0))


# ---- new_device_id ----------------------------------------------------------------------------------------------
@settings(deadline=None)
@given(st.text(max_size=40), st.text(max_size=20),
       st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**80), 2**80), st.booleans()))
def test_new_device_id_equals_the_reference(fid, fam, now):
    fp = replace(FPR.fingerprint({"os": "android", "model": "X1"}), id=fid, family=fam)
    try:
        want = new_device_id(fp, now)
    except UnicodeEncodeError:  # lone surrogates: the reference raises, so does the kernel (through it)
        with pytest.raises(UnicodeEncodeError):
            glue.new_device_id(fp, now)
        return
    got = glue.new_device_id(fp, now)
    assert type(got) is str and got == want


def test_new_device_id_hands_over_what_it_does_not_handle():
    fp = FPR.fingerprint({"os": "android", "model": "X1"})
    assert glue.new_device_id(fp, 1.5) == new_device_id(fp, 1.5)                   # a float time
    assert glue.new_device_id(fp, np.int64(7)) == new_device_id(fp, np.int64(7))   # numpy's int
    assert glue.new_device_id(replace(fp, id=7), 1) == new_device_id(replace(fp, id=7), 1)  # not a str
    with pytest.raises(TypeError):
        glue.new_device_id(fp)
