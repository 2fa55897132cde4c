"""The compiled link-state kernel (fraudscore/_core/linkstate.c) == the Python reference, bit for bit.

``touch`` and ``write`` (MemoryLinkState's bookkeeping) on random plan sequences, and ``link`` (the exact
hit, the class-record join and the class record of a new common fingerprint) on random event streams over
small device pools -- twins, drift, expiry, full blocks and a full state are frequent -- against a linker
built on the pure-Python reference: equal LinkResults and an equal final state (``to_dict``, in order).
``keys`` (a new fingerprint's keys) against ``DeviceLinker._keys`` and ``entry`` (the whole of ``link``: keys,
IP hash, result memo) against the Python path. Inputs the kernel does not handle are handed over with the state
untouched.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.linker import new_device_id
from fraudscore.fingerprint.linkstate import LinkPlan
from fraudscore.keys import Keys
from tests.helpers import compiled_core, pure_python

core = compiled_core("linkstate", "the compiled linkstate module")

FPR = Fingerprinter(Keys(b"test-secret-for-linkstate-kernel"))
T0 = 1_767_225_600_000


def dump(state: MemoryLinkState) -> str:
    """The whole state, order included (JSON keeps the order of every list and mapping)."""
    return json.dumps(state.to_dict())


# ---- touch / write --------------------------------------------------------------------------------------------
plans = st.lists(st.tuples(
    st.integers(0, 9),                                    # device
    st.booleans(),                                        # touch (when the device is stored)
    st.lists(st.integers(0, 5), min_size=1, max_size=3),  # fingerprint ids
    st.lists(st.integers(0, 4), max_size=3),              # blocks
    st.integers(1, 3),                                    # ndev
    st.booleans(),                                        # new device
    st.sampled_from(["f1", "f2", "f3"]),                  # family
    st.lists(st.integers(0, 6), max_size=3),              # family count keys
    st.lists(st.integers(0, 6), max_size=2),              # global count keys
    st.sampled_from([0, 0, 5, 9]),                        # ip
    st.integers(0, 40),                                   # time step
), max_size=40)


def apply(state, ops, use_reference):
    now = T0
    for dev, touch, fids, blks, ndev, new, fam, fk, gk, ip, step in ops:
        now += step
        did = f"d{dev}"
        fp_ids = tuple(f"fp{i}" for i in fids)
        block_keys = tuple(dict.fromkeys(f"b{i}" for i in blks))
        rec = state._devices.get(did)
        if touch and rec is not None:
            if use_reference:
                state._touch_reference(rec, fp_ids, block_keys, ndev, ip, now)
            else:
                assert core.touch(state, rec, fp_ids, block_keys, ndev, ip, now) is True
        else:
            rec = {"id": did, "fp": fp_ids[0], "t": now - step // 2, "n": 1, "ip": ip}
            plan = LinkPlan(rec, fp_ids, block_keys, ndev, new, fam, tuple(fk), tuple(gk))
            if use_reference:
                state._write_reference(plan, now)
            else:
                assert core.write(state, rec, fp_ids, block_keys, ndev, new, fam, tuple(fk), tuple(gk), now) is True


@settings(deadline=None)
@given(plans, st.integers(1, 6), st.integers(1, 4), st.integers(5, 60))
def test_touch_and_write_equal_the_reference(ops, max_devices, max_per_block, ttl):
    states = [MemoryLinkState(max_devices=max_devices, max_per_block=max_per_block, ttl_ms=ttl) for _ in range(2)]
    apply(states[0], ops, use_reference=False)
    apply(states[1], ops, use_reference=True)
    assert dump(states[0]) == dump(states[1])
    assert states[0].live_evictions == states[1].live_evictions


def test_touch_and_write_hand_over_what_they_do_not_handle():
    state = MemoryLinkState()
    rec = {"id": "d1", "fp": "fp1", "t": T0, "n": 1, "ip": 0}
    state.write(LinkPlan(rec, ("fp1",), ("k",), 1, True, "f", (3,)), T0)
    before = dump(state)
    assert core.touch(state, {**rec, "t": 1.5}, ("fp1",), ("k",), 1, 0, T0) is None      # a float time
    assert core.touch(state, {**rec, "id": "d9"}, ("fp1",), ("k",), 1, 0, T0) is None     # not stored
    assert core.touch(state, rec, ["fp1"], ("k",), 1, 0, T0) is None                      # a list of ids
    assert core.write(state, rec, ("fp1",), ("k",), 1, 1, "f", (), (), T0) is None        # new_device not a bool
    assert core.write(state, rec, ("fp1",), (7,), 1, True, "f", (), (), T0) is None       # a block key not a str
    assert core.write(state, rec, ("fp1",), ("k",), 1, True, "f", (2**70,), (), T0) is None  # a key beyond 64 bits
    assert dump(state) == before
    # the kernels also take the reference's layout of the counts (an OrderedDict of [n, dict]): corrupt it
    state._fam = OrderedDict(state._fam.items())
    state._fam["f"][1] = None                                                             # corrupt counts
    assert core.write(state, rec, ("fp1",), ("k",), 1, True, "f", (3,), (), T0) is None
    state._fam["f"][1] = {3: 1}
    assert dump(state) == before


# ---- link ------------------------------------------------------------------------------------------------------
@st.composite
def device(draw):
    """A device from small pools: phones without a resettable id are twins of each other, desktops differ by a
    few settings, app phones by their ids; versions drift up and down."""
    kind = draw(st.sampled_from(["app", "web_android", "web_ios", "web_win"]))
    minor = draw(st.integers(0, 2))
    if kind == "app":
        d = {"source": "app", "os": "android", "os_version": f"13.{minor}", "model": "X1", "manufacturer": "Xiaomi",
             "screen": "1080x2400", "app_version": f"5.{draw(st.integers(0, 2))}.0"}
        if draw(st.booleans()):
            d["android_id"] = draw(st.sampled_from(["aa", "bb"]))
    else:
        ua = {"web_android": "Mozilla/5.0 (Linux; Android 13; X1) AppleWebKit/537.36 (KHTML, like Gecko) "
                             f"Chrome/{120 + minor}.0.0.0 Mobile Safari/537.36",
              "web_ios": f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{minor} like Mac OS X) AppleWebKit/605.1.15 "
                         f"(KHTML, like Gecko) Version/17.{minor} Mobile/15E148 Safari/604.1",
              "web_win": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         f"Chrome/{120 + minor}.0.0.0 Safari/537.36"}[kind]
        d = {"source": "web", "user_agent": ua, "platform": "Win32" if kind == "web_win" else "Linux",
             "screen": draw(st.sampled_from(["1920x1080", "390x844"])), "color_depth": 24,
             "webgl_renderer": draw(st.sampled_from([None, "ANGLE (Intel) D3D11-31.0.101.4017", "Apple GPU"])),
             "canvas_hash": draw(st.sampled_from([None, "c1"])), "hardware_concurrency": 8}
        if draw(st.booleans()):
            d["fonts"] = draw(st.lists(st.sampled_from([f"Font {i}" for i in range(8)]), max_size=6, unique=True))
    d["timezone"] = draw(st.sampled_from(["Asia/Shanghai", "Asia/Tokyo"]))
    if draw(st.booleans()):
        d["languages"] = ["zh-CN"]
    return d


@st.composite
def streams(draw):
    pool = [FPR.fingerprint(d) for d in draw(st.lists(device(), min_size=2, max_size=6))]
    events = draw(st.lists(st.tuples(st.integers(0, len(pool) - 1), st.sampled_from([0, 1, 7, 40, 400]),
                                     st.sampled_from([None, None, "1.2.3", "4.5.6", 77])), min_size=8, max_size=60))
    params = {"min_family_devices": draw(st.sampled_from([1, 2, 30])),
              "mobile_prior": draw(st.sampled_from([1.0, 3.0])),
              "max_scored": draw(st.sampled_from([1, 8]))}
    state = {"max_devices": draw(st.sampled_from([2, 5, 1000])), "max_per_block": draw(st.sampled_from([1, 2, 64])),
             "ttl_ms": draw(st.sampled_from([300, 10**9]))}
    return pool, events, params, state


def link_all(pool, events, params, state_params, reference):
    if reference:
        with pure_python():
            linker = DeviceLinker(MemoryLinkState(**state_params), **params)
        assert linker._link_fast is None and linker.state._cwrite is None
    else:
        linker = DeviceLinker(MemoryLinkState(**state_params), **params)
        assert linker._link_fast is not None
    now = T0
    out = []
    for i, step, ip in events:
        now += step
        out.append(linker.link(pool[i], now, ip))
    return out, linker.state


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_link_equals_the_reference(case):
    pool, events, params, state_params = case
    got, got_state = link_all(pool, events, params, state_params, reference=False)
    want, want_state = link_all(pool, events, params, state_params, reference=True)
    assert got == want  # device id, confidence (bit for bit), changed attributes, new, how
    assert dump(got_state) == dump(want_state)
    assert got_state.live_evictions == want_state.live_evictions


def klink(linker, fp, now, ip=0, keys=None, **over):
    """``core.link`` with the linker's arguments (``over`` replaces some)."""
    args = {"min_family_devices": linker.min_family_devices, "mobile_prior": linker.mobile_prior,
            "link_probability": linker.link_probability, "walk": linker.state._walk,
            "best": linker.best_candidate, "new_id": new_device_id, **over}
    return core.link(linker.state, fp, linker._keys(fp) if keys is None else keys, now, ip, *args.values())


def test_link_kernel_covers_the_class_paths():
    """Twins (phones without a resettable id) and a desktop whose fingerprint becomes common go through the
    kernel's class paths: it answers (not None) for them, and the stream still equals the reference."""
    twin = FPR.fingerprint({"source": "web", "platform": "Linux", "screen": "390x844", "timezone": "Asia/Tokyo",
                            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                                          "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"})
    linker = DeviceLinker(MemoryLinkState())
    first = klink(linker, twin, T0)
    assert first is not None and first[3] is True and first[4] == "shared"  # a new class record
    again = klink(linker, twin, T0 + 5)
    assert again is not None and again[0] == first[0] and again[3] is False  # a sighting of the class record
    assert linker.state._devices[first[0]]["n"] == 2


def test_link_kernel_hands_over_with_the_state_untouched():
    app = FPR.fingerprint({"source": "app", "os": "android", "os_version": "13", "model": "X1",
                           "app_version": "5.1", "android_id": "aa"})
    linker = DeviceLinker(MemoryLinkState())
    linker.link(app, T0)
    st_ = linker.state
    keys = linker._keys(app)
    before = dump(st_)
    assert klink(linker, app, T0 + 1.5) is None                               # a float time
    assert klink(linker, app, T0 + 1, "ip") is None                           # an ip that is not a hash
    assert klink(linker, app, T0 + 1, keys=keys[:8]) is None                  # not the linker's keys
    assert klink(linker, app, T0 + 1, keys=(*keys[:3], (5,), *keys[4:])) is None  # global counts
    assert klink(linker, app, T0 + 1, mobile_prior=3) is None                 # a mobile prior not a float
    rec = st_._devices[next(iter(st_._devices))]
    rec["t"] = float(rec["t"])                                               # a record the kernel does not read
    assert klink(linker, app, T0 + 1) is None
    rec["t"] = int(rec["t"])
    assert dump(st_) == before
    desk = {"source": "web", "platform": "Win32", "screen": "1920x1080", "timezone": "Asia/Shanghai",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.0.0 Safari/537.36", "fonts": ["Arial", "Calibri", "SimSun"]}
    home, trip = FPR.fingerprint(desk), FPR.fingerprint({**desk, "timezone": "Asia/Tokyo"})
    assert linker.link(home, T0 + 2).how == "new" and linker.link(trip, T0 + 3).how == "model"
    before = dump(st_)
    with pure_python():
        ref = DeviceLinker(MemoryLinkState())
    ref.state.restore_dict(json.loads(dump(st_)))
    back = klink(linker, home, T0 + 4)  # back to an earlier state of its own: a new record state, counted
    assert back is not None and back[2] == ("timezone",) and back[4] == "exact"
    assert ref.link(home, T0 + 4) == linker._result(back) and dump(ref.state) == dump(st_)
    before = dump(st_)
    other = FPR.fingerprint({"source": "app", "os": "android", "os_version": "13", "model": "X1",
                             "app_version": "5.2", "android_id": "bb"})
    assert klink(linker, other, T0 + 5, walk=None) is None                    # no compiled walk
    assert klink(linker, other, T0 + 5, best=lambda *a: (1, st_._devices[next(iter(st_._devices))])) is None
    assert dump(st_) == before

    def boom(*a):
        raise KeyError("t")

    with pytest.raises(KeyError):  # an exception of the scoring propagates, the state untouched
        klink(linker, other, T0 + 5, best=boom)
    assert dump(st_) == before


@pytest.mark.parametrize("scenario", ["web", "mixed"])
def test_simulated_stream_through_every_kernel_path(scenario):
    """A simulated stream: the kernel answers exact hits, class sightings, class joins with changed attributes,
    new class records, model links, new devices and devices back to an earlier state, and every result and the
    final state equal the reference."""
    from fraudscore.fingerprint.simulate import simulate

    s = simulate(scenario, n_devices=80, days=30, seed=11)
    fps = [FPR.fingerprint(d) for d in s.devices]
    rows = list(zip(fps, s.ts.tolist(), s.ip_prefix.tolist()))
    kinds: dict[str, int] = {}
    linker = DeviceLinker(MemoryLinkState(max_per_block=16))
    kernel = linker._link_fast

    def counted(*args):
        got = kernel(*args)
        kind = "handed over" if got is None else f"{got[4]}{'/new' if got[3] else ''}{'/changed' if got[2] else ''}"
        kinds[kind] = kinds.get(kind, 0) + 1
        return got

    linker._link_fast = counted
    linker._link_entry = None  # the whole-link entry would bypass the counted kernel
    got = [linker.link(fp, t, ip) for fp, t, ip in rows]
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=16))
    want = [ref.link(fp, t, ip) for fp, t, ip in rows]
    assert got == want
    assert dump(linker.state) == dump(ref.state)
    # every decision of decide() (the "back to an earlier state" one is exact/changed); nothing handed over
    assert {"exact", "shared", "shared/new", "shared/changed", "model/changed", "new/new", "exact/changed"} <= set(
        kinds), kinds
    assert "handed over" not in kinds, kinds


def test_kernel_state_stays_out_of_the_garbage_collector():
    """Records, their lists, exact-index entries, blocks and LinkResults the kernel creates hold no container that
    could close a cycle, so it leaves them out of the cyclic collector (a collection no longer walks the whole state); a
    record that is given a container again re-enters it (CPython's dict tracking), and the reference path, a
    collection and a snapshot round trip see the same state as the pure-Python linker's."""
    import gc

    from fraudscore.fingerprint.simulate import simulate

    s = simulate("web", n_devices=40, days=20, seed=5)
    rows = list(zip([FPR.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()))
    linker = DeviceLinker(MemoryLinkState(max_per_block=8))
    got = [linker.link(fp, t, ip) for fp, t, ip in rows]
    st_ = linker.state
    recs = list(st_._devices.values())
    assert recs and not any(gc.is_tracked(r) for r in recs)
    assert not any(gc.is_tracked(r[k]) for r in recs for k in ("c", "fs", "lg"))
    assert not any(gc.is_tracked(v) for v in st_._exact.values())
    assert not any(gc.is_tracked(b) for b in st_._blocks.values())
    assert not any(gc.is_tracked(r) for r in linker._results.values())  # the memoised LinkResults
    gc.collect()
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=8))
    want = [ref.link(fp, t, ip) for fp, t, ip in rows]
    assert got == want and dump(st_) == dump(ref.state)
    rec = recs[0]
    rec["c"] = list(rec["c"])  # what Python code editing a record does: assign a new list
    assert gc.is_tracked(rec)
    other = MemoryLinkState(max_per_block=8)
    other.restore_dict(json.loads(dump(st_)))
    assert dump(other) == dump(st_)

@pytest.mark.parametrize("t", [0, 1, -1, 2**30 - 1, 2**30, -(2**30), 2**60 - 1, -(2**60 - 1), 2**60, -(2**60),
                               2**61 + 5, -(2**61 + 5)])
@pytest.mark.parametrize("now", [0, 2**30, -(2**30) + 1, 2**60 - 2, 2**60 + 1, -(2**61)])
def test_times_at_the_int_digit_boundaries(t, now):
    """The kernels read ints directly up to two 30-bit digits and through the C API beyond: a touch compares the
    stored time with ``now`` exactly as the reference does on either side of each boundary."""
    states = [MemoryLinkState(ttl_ms=2**62) for _ in range(2)]
    for st_ in states:
        st_._write_reference(LinkPlan({"id": "d1", "fp": "fp1", "t": t, "n": 1, "ip": 0}, ("fp1",), ("k",), 1, True,
                                      "f"), now)
    assert core.touch(states[0], states[0]._devices["d1"], ("fp1",), ("k",), 1, 0, now) is True
    states[1]._touch_reference(states[1]._devices["d1"], ("fp1",), ("k",), 1, 0, now)
    assert dump(states[0]) == dump(states[1])
    assert states[0]._devices["d1"]["t"] == max(t, now)


# ---- the whole-link entry and the keys of new fingerprints ------------------------------------------------------
def ckeys(fp):
    """``_core.linkstate.keys(fp)`` once the kernel is configured (by building a linker)."""
    DeviceLinker(MemoryLinkState())
    return core.keys(fp)


def reference_keys(fp):
    """``DeviceLinker._keys`` of the pure-Python linker (a fresh memo: computed, not remembered)."""
    with pure_python():
        linker = DeviceLinker(MemoryLinkState())
    assert linker._link_entry is None
    return linker._keys(fp)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(device(), st.lists(st.sampled_from(["fp0_a", "fp1_b_c", "fp2_x"]), max_size=2, unique=True),
       st.sampled_from([None, "imei-1", "idfv-2"]))
def test_keys_equal_the_reference(dev, aliases, extra_id):
    """``_core.linkstate.keys`` (the keys of a fingerprint not in the linker's memo) == ``DeviceLinker._keys``:
    ids with aliases, block keys (font MinHash, resettable ids), count keys, class key and id, popularity keys."""
    from dataclasses import replace

    if extra_id is not None:
        dev = {**dev, ("imei" if extra_id.startswith("imei") else "idfv"): extra_id}
    fp = FPR.fingerprint(dev)
    if aliases:
        fp = replace(fp, aliases=tuple(aliases))
    assert ckeys(fp) == reference_keys(fp)


@pytest.mark.parametrize("scenario", ["web", "mixed", "farm"])
def test_keys_of_simulated_fingerprints_equal_the_reference(scenario):
    from fraudscore.fingerprint.simulate import simulate

    s = simulate(scenario, n_devices=60, days=20, seed=5)
    fps = {fp.id: fp for fp in (FPR.fingerprint(d) for d in s.devices)}
    for fp in fps.values():
        assert ckeys(fp) == reference_keys(fp)


@pytest.mark.parametrize("family", ["a'b", 'q"\'', "back\\slash", "caf\u00e9", "tab\t", "\u4e2d"])
def test_keys_of_unusual_text_use_pythons_own_formatting(family):
    """Text that is not printable ASCII without quotes or backslashes is formatted by Python (``repr``,
    f-strings), the rest in place: both give the reference's keys."""
    from dataclasses import replace

    for dev in ({"os": "android", "model": "X1", "android_id": "aa", "fonts": ["A"]},
                {"source": "web", "platform": "Win32", "fonts": ["Arial"], "user_agent": "Mozilla/5.0 (Windows NT "
                 "10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}):
        fp = replace(FPR.fingerprint(dev), family=family)
        assert ckeys(fp) == reference_keys(fp)


def test_keys_hand_over_what_they_do_not_handle():
    from dataclasses import replace

    fp = FPR.fingerprint({"os": "android", "model": "X1", "android_id": "aa"})
    assert ckeys(replace(fp, components=(*fp.components[:13], -1))) is None   # a negative component
    assert ckeys(replace(fp, components=list(fp.components))) is None         # not a tuple
    assert ckeys(replace(fp, renderer=2**60)) is None                          # beyond the count keys' range
    assert ckeys(replace(fp, aliases=[])) is None
    assert ckeys(object()) is None


def test_entry_is_the_python_link():
    """``entry`` (the whole of ``link`` in C) gives the Python path's LinkResult and state, memoises keys (both
    variants of an id), IP hashes and results as it does, and leaves to it what it does not handle: an IP token
    that is not a str or int, a float time, a subclass, a ``best_candidate`` replaced on the instance."""
    from fraudscore.fingerprint.linker import LinkResult

    desk = {"source": "web", "platform": "Win32", "screen": "1920x1080", "timezone": "Asia/Shanghai",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.0.0 Safari/537.36", "fonts": ["Arial", "Calibri", "SimSun"]}
    home, trip = FPR.fingerprint(desk), FPR.fingerprint({**desk, "timezone": "Asia/Tokyo"})
    linker = DeviceLinker(MemoryLinkState())
    with pure_python():
        ref = DeviceLinker(MemoryLinkState())
    assert linker._link_entry is not None
    assert core.entry(linker, home, T0, b"10.0.0") is None                    # an IP token not a str
    assert core.entry(linker, home, T0 + 0.5, None) is None                   # a float time
    assert linker.state.to_dict() == MemoryLinkState().to_dict()             # nothing changed
    from dataclasses import replace

    twin = replace(home, fonts_sketch=home.fonts_sketch[:1])  # another script's variant of the same id
    steps = [(home, T0, "10.0.0"), (home, T0 + 1, "10.0.0"), (trip, T0 + 2, 77), (home, T0 + 3, None),
             (home, T0 + 4, "10.0.0"), (twin, T0 + 4, "10.0.0"), (twin, T0 + 4, "10.0.2"), (home, T0 + 4, None),
             (trip, T0 + 5.0, "10.0.1")]
    for fp, t, ip in steps:
        got, want = linker.link(fp, t, ip), ref.link(fp, t, ip)
        assert type(got) is LinkResult and got == want
    assert dump(linker.state) == dump(ref.state)
    assert linker._ip_memo == ref._ip_memo                                   # IP tokens hashed alike
    again = core.entry(linker, trip, T0 + 6, "10.0.1")
    assert again is not None and again is linker.link(trip, T0 + 6, "10.0.1")  # a memoised (immutable) result
    ref.link(trip, T0 + 6, "10.0.1")
    ref.link(trip, T0 + 6, "10.0.1")
    assert linker.link(home, T0 + 7) == ref.link(home, T0 + 7)               # back to an earlier state
    assert dump(linker.state) == dump(ref.state)
    assert ckeys(home) == linker._key_memo[home.id]
    assert ckeys(twin) == linker._variant_memo[(twin.id, twin.fonts_sketch, twin.aliases)] == reference_keys(twin)

    class Mine(DeviceLinker):
        pass

    assert Mine(MemoryLinkState())._link_entry is None
    seen = []
    linker.best_candidate = lambda *a: seen.append(a) or None                 # replaced on the instance
    assert core.entry(linker, FPR.fingerprint({**desk, "screen": "1280x720"}), T0 + 8, None) is None
    assert linker.link(FPR.fingerprint({**desk, "screen": "1280x720"}), T0 + 8).new and seen


@pytest.mark.parametrize("n_fonts", [0, 1, 2, 3, 40])
def test_keys_walk_the_second_smallest_font_hash_too(n_fonts):
    """The walk keys (slot 9): the block keys with, for a sketch of two hashes or more, the block of the second
    smallest font hash after the first; in C as in the reference. The block keys (what a device is indexed
    under) keep one font block."""
    from fraudscore.fingerprint.linkkeys import FONT_PROBES

    dev = {"source": "web", "platform": "Win32", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
           "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "imei": "867543061234567"}
    if n_fonts:
        dev["fonts"] = [f"Font {i}" for i in range(n_fonts)]
    fp = FPR.fingerprint(dev)
    got, want = ckeys(fp), reference_keys(fp)
    assert got == want and len(got) == 10
    blocks, walk = got[1], got[9]
    assert len(blocks) == 2 and blocks[1].split(":")[1].startswith("im")
    if len(fp.fonts_sketch) >= FONT_PROBES:
        assert walk == (blocks[0], f"{blocks[0].rsplit(':', 1)[0]}:{fp.fonts_sketch[1]:08x}", blocks[1])
    else:
        assert walk == blocks
