"""The family value counts owned by C (``_core.linkstate.FamilyCounts``, round 13) == the reference's
``OrderedDict[str, [n, dict[int, int]]]`` of ``MemoryLinkState``, bit for bit.

The table against an OrderedDict model on random operation sequences (counting, recency order, eviction,
restore, every read), a compiled ``MemoryLinkState`` against one built with ``FRAUDSCORE_PURE_PYTHON=1`` on
random write / touch plans (equal ``to_dict``, in order), the snapshot round trip in both directions, and the
inputs the table refuses (raised before anything changes).
"""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import StoreError
from fraudscore.fingerprint import MemoryLinkState
from fraudscore.fingerprint.linkstate import LinkPlan
from tests.helpers import compiled_core, pure_python

core = compiled_core("linkstate", "the compiled linkstate module", "FamilyCounts")
FamilyCounts = core.FamilyCounts
T0 = 1_767_225_600_000


def ref_count(ref: OrderedDict, fam: str, new: bool, keys) -> None:
    """MemoryLinkState._write_reference's counting."""
    f = ref.get(fam)
    if f is None:
        f = ref[fam] = [0, {}]
    ref.move_to_end(fam)
    f[0] += new
    for k in keys:
        f[1][k] = f[1].get(k, 0) + 1


def same(fc: FamilyCounts, ref: OrderedDict) -> None:
    assert len(fc) == len(ref)
    assert fc.items() == [(k, v) for k, v in ref.items()]
    assert [list(v[1].items()) for v in fc.values()] == [list(v[1].items()) for v in ref.values()]  # key order
    assert fc.keys() == list(ref) == list(fc)
    for k in ref:
        assert k in fc and fc[k] == ref[k] and fc.get(k) == ref.get(k)


families = st.sampled_from([f"f{i}" for i in range(12)])
keys = st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(0, 40))
ops = st.lists(st.one_of(
    st.tuples(st.just("count"), families, st.booleans(), st.lists(keys, max_size=20)),
    st.tuples(st.just("bound"), st.integers(0, 12)),
    st.tuples(st.just("load"), families, st.integers(0, 10**12), st.dictionaries(keys, st.integers(-5, 10**15),
                                                                                max_size=8)),
), max_size=80)


@settings(deadline=None)
@given(ops)
def test_table_equals_an_ordered_dict(seq):
    fc, ref = FamilyCounts(), OrderedDict()
    for op in seq:
        if op[0] == "count":
            fc.count(op[1], op[2], tuple(op[3]))
            ref_count(ref, op[1], op[2], op[3])
        elif op[0] == "bound":
            fc.bound(op[1])
            while len(ref) > op[1]:
                ref.popitem(last=False)
        else:
            fc.load(op[1], op[2], op[3])
            ref[op[1]] = [op[2], dict(op[3])]
        same(fc, ref)
    assert "nope" not in fc and fc.get("nope") is None and fc.get("nope", 5) == 5
    with pytest.raises(KeyError):
        fc["nope"]


def test_many_families_grow_and_shrink_the_index():
    """Hundreds of families (the index grows), evicted from the oldest in steps (backward-shift deletion keeps
    every other family findable), reused entries, families counted again after eviction."""
    fc, ref = FamilyCounts(), OrderedDict()
    for i in range(600):
        fam = f"fam{(i * 7919) % 450}"
        ks = tuple((i * j * 2654435761) % 10**9 for j in range(1, 1 + i % 23))
        fc.count(fam, i % 3 == 0, ks)
        ref_count(ref, fam, i % 3 == 0, ks)
        if i % 97 == 96:
            fc.bound(len(fc) // 2)
            while len(ref) > len(fc):
                ref.popitem(last=False)
            same(fc, ref)
    same(fc, ref)
    fc.bound(0)
    assert len(fc) == 0 and fc.items() == []
    fc.count("again", True, (1, 2, 1))
    assert fc.items() == [("again", [1, {1: 2, 2: 1}])]


def test_refused_input_changes_nothing():
    fc = FamilyCounts()
    fc.count("f", True, (3, 4))
    before = fc.items()
    with pytest.raises(TypeError):
        fc.count(7, True, (3,))                 # a family that is not a str
    with pytest.raises(TypeError):
        fc.count("f", True, (3, "x"))           # a key that is not an int
    with pytest.raises(OverflowError):
        fc.count("f", True, (3, 2**64))         # a key beyond 64 bits (checked before the first is counted)
    with pytest.raises(OverflowError):
        fc.load("f", 1, {2**70: 1})
    with pytest.raises(TypeError):
        FamilyCounts(1)
    assert fc.items() == before
    copy = fc["f"]
    copy[1][3] = 99                              # a copy: the table is unchanged
    assert fc.items() == before


# ---- the whole state: compiled (C counts) against FRAUDSCORE_PURE_PYTHON=1 --------------------------------------
plans = st.lists(st.tuples(
    st.integers(0, 9),                                    # device
    st.booleans(),                                        # touch (when the device is stored)
    st.lists(st.integers(0, 5), min_size=1, max_size=3),  # fingerprint ids
    st.lists(st.integers(0, 4), max_size=3),              # blocks
    st.booleans(),                                        # new device
    st.sampled_from(["f1", "f2", "f3", "f4"]),            # family
    st.lists(st.integers(0, 6), max_size=5),              # family count keys
    st.lists(st.integers(0, 6), max_size=2),              # global count keys
    st.integers(0, 40),                                   # time step
), max_size=50)


def run(state: MemoryLinkState, seq, start: int = T0) -> int:
    now = start
    for dev, touch, fids, blks, new, fam, fk, gk, step in seq:
        now += step
        did = f"d{dev}"
        fp_ids = tuple(f"fp{i}" for i in fids)
        block_keys = tuple(dict.fromkeys(f"b{i}" for i in blks))
        rec = state._devices.get(did)
        if touch and rec is not None:
            state.write(LinkPlan(rec, fp_ids, block_keys, 1, False, fam, touch=True, ip=3), now)
        else:
            rec = {"id": did, "fp": fp_ids[0], "t": now, "n": 1, "ip": 0}
            state.write(LinkPlan(rec, fp_ids, block_keys, 1, new, fam, tuple(fk), tuple(gk)), now)
    return now


def dump(state: MemoryLinkState) -> str:
    return json.dumps(state.to_dict())


@settings(deadline=None)
@given(plans, plans, st.integers(1, 6), st.integers(1, 4))
def test_state_equals_the_pure_python_state_and_round_trips(first, second, max_devices, max_per_block):
    params = {"max_devices": max_devices, "max_per_block": max_per_block, "ttl_ms": 50}
    got = MemoryLinkState(**params)
    with pure_python():
        want = MemoryLinkState(**params)
    assert type(got._fam) is FamilyCounts and type(want._fam) is OrderedDict
    assert type(got._devices) is type(got._exact) is type(got._blocks) is core.RecencyMap
    assert type(want._devices) is OrderedDict
    now = run(got, first)
    run(want, first)
    assert dump(got) == dump(want)
    for fam in ("f1", "f2", "f3", "f4", "none"):
        assert got.family(fam) == want.family(fam)
        assert got.read(("fp1",), ("b1",), fam, (1, 2), (), now) == want.read(("fp1",), ("b1",), fam, (1, 2), (), now)
    # snapshots: compiled -> pure and pure -> compiled, then both go on equally
    again = MemoryLinkState(**params)
    again.restore_dict(json.loads(dump(want)))
    with pure_python():
        back = MemoryLinkState(**params)
    back.restore_dict(json.loads(dump(got)))
    assert dump(again) == dump(back) == dump(got)
    for s in (got, again, back):
        run(s, second, now)
    run(want, second, now)
    assert dump(got) == dump(again) == dump(back) == dump(want)


def test_restore_refuses_counts_beyond_64_bits_and_keeps_the_state():
    state = MemoryLinkState()
    state.write(LinkPlan({"id": "d1", "t": 0, "n": 1}, ("fp1",), ("k",), 1, True, "f", (7,)), 0)
    data = state.to_dict()
    before = dump(state)
    bad = {**data, "families": [["f", 1, [[2**70, 1]]]]}
    with pytest.raises(StoreError, match="malformed"):
        state.restore_dict(bad)
    assert dump(state) == before


# ---- the recency-ordered maps (devices, exact index, blocks): RecencyMap against OrderedDict -------------------
RecencyMap = core.RecencyMap
names = st.sampled_from([f"k{i}" for i in range(10)] + ["", "é", "長い鍵", "k" * 40])
map_ops = st.lists(st.one_of(
    st.tuples(st.just("set"), names, st.integers(0, 5)),
    st.tuples(st.just("move"), names),
    st.tuples(st.just("popitem"), st.booleans()),
    st.tuples(st.just("pop"), names),
    st.tuples(st.just("del"), names),
), max_size=80)


def same_map(rm, od) -> None:
    assert len(rm) == len(od) and bool(rm) == bool(od)
    assert rm.items() == list(od.items()) and rm.keys() == list(od) == list(rm)
    assert rm.values() == list(od.values()) and list(reversed(rm)) == list(reversed(od))
    for k in od:
        assert k in rm and rm[k] is od[k] and rm.get(k) is od.get(k)


@settings(deadline=None)
@given(map_ops)
def test_recency_map_equals_an_ordered_dict(seq):
    values = [[i] for i in range(6)]  # the same objects go in both: identity is kept
    rm, od = RecencyMap(), OrderedDict()
    for op in seq:
        got = want = None
        if op[0] == "set":
            rm[op[1]] = od[op[1]] = values[op[2]]
        elif op[0] == "move":
            for m in (rm, od):
                try:
                    m.move_to_end(op[1])
                except KeyError as exc:
                    got, want = want, repr(exc)
        elif op[0] == "popitem":
            for m in (rm, od):
                try:
                    got, want = want, m.popitem(last=op[1])
                except KeyError:
                    got, want = want, "empty"
        elif op[0] == "pop":
            got, want = rm.pop(op[1], None), od.pop(op[1], None)
        else:
            for m in (rm, od):
                try:
                    del m[op[1]]
                except KeyError as exc:
                    got, want = want, repr(exc)
        assert got == want
        same_map(rm, od)
    assert RecencyMap(od.items()).items() == list(od.items())
    assert "nope" not in rm and rm.get("nope") is None and rm.get(3, 7) == 7 and 3 not in rm
    with pytest.raises(KeyError):
        rm["nope"]
    with pytest.raises(KeyError):
        rm.pop("nope")


def test_recency_map_grows_shrinks_and_refuses_other_keys():
    rm, od = RecencyMap(), OrderedDict()
    for i in range(5000):  # the index grows; evictions from the front reuse entries (backward-shift deletion)
        k = f"id{(i * 7919) % 3001}"
        rm[k] = od[k] = i
        rm.move_to_end(k)
        od.move_to_end(k)
        if i % 7 == 0:
            assert rm.popitem(last=False) == od.popitem(last=False)
    same_map(rm, od)
    before = rm.items()
    with pytest.raises(TypeError):
        rm[3] = 1                                # keys are exact str
    with pytest.raises(TypeError):
        rm.move_to_end(b"id1")
    with pytest.raises(TypeError):
        RecencyMap([(1, 2)])
    with pytest.raises(TypeError):
        rm[[1]]                                  # unhashable, as a dict raises
    assert rm.items() == before


def test_recency_maps_hold_cycles_the_collector_can_free():
    import gc
    import weakref

    class Box:
        pass

    rm = RecencyMap()
    box = Box()
    box.rm = rm
    rm["self"] = box
    ref = weakref.ref(box)
    del rm, box
    gc.collect()
    assert ref() is None


def test_records_stored_directly_equal_the_reference():
    """make_record's direct stores into a fresh copy of its 16-key template (linkstate_decide.h) make the same
    records as the 16 dict stores and as the Python reference: a simulated stream linked three ways."""
    from fraudscore.fingerprint import DeviceLinker, Fingerprinter
    from fraudscore.fingerprint.simulate import simulate
    from fraudscore.keys import Keys

    fpr = Fingerprinter(Keys(b"test-secret-for-linkstate-counts"))
    s = simulate("mixed", n_devices=60, days=20, seed=7)
    rows = [(fpr.fingerprint(d), t, ip) for d, t, ip in zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist())]

    def run_all(linker):
        out = [linker.link(fp, t, ip) for fp, t, ip in rows if fp is not None]
        return out, dump(linker.state), [list(r.items()) for r in linker.state._devices.values()]

    on, made = core.direct_records()
    try:
        direct = run_all(DeviceLinker(MemoryLinkState(max_per_block=8)))
        assert core.direct_records()[1] > made or not on  # the direct stores ran (where the layout allows)
        core.direct_records(False)
        stored = run_all(DeviceLinker(MemoryLinkState(max_per_block=8)))
    finally:
        core.direct_records(on)
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=8))
    assert direct == stored == run_all(ref)


def test_recency_maps_copy_and_track_containers_as_dicts_do():
    import copy
    import gc

    rm = RecencyMap([("b", None), ("a", None)])
    inner = RecencyMap([("x", rm)])
    assert copy.deepcopy(inner).items()[0][1].items() == [("b", None), ("a", None)]
    state = MemoryLinkState(max_per_block=2)
    state.write(LinkPlan({"id": "d1", "t": 0, "n": 1}, ("fp1",), ("k",), 1, True, "f", (7,)), 0)
    blk = state._blocks["k"]
    assert type(blk) is RecencyMap and not gc.is_tracked(blk)  # ids only: left out of the collector
    blk["d2"] = [1]                                              # a container: back in, as a dict would be
    assert gc.is_tracked(blk)


def test_recency_maps_compare_as_ordered_dicts():
    a, b = RecencyMap([("x", 1), ("y", 2)]), RecencyMap([("y", 2), ("x", 1)])
    assert a == RecencyMap([("x", 1), ("y", 2)]) and a != b                      # in order, as OrderedDicts
    assert a == OrderedDict([("x", 1), ("y", 2)]) and a != OrderedDict([("y", 2), ("x", 1)])
    assert a == {"y": 2, "x": 1} and b == {"x": 1, "y": 2} and a != {"x": 1}     # a plain dict: any order
    assert a != [("x", 1), ("y", 2)]
    with pytest.raises(TypeError):
        hash(a)


# ---- round(x, 3) in C (the link confidence) ---------------------------------------------------------------------
def _round3_both(x: float) -> tuple[float, float]:
    core.round3(0.0, True)
    got = core.round3(x)
    core.round3(0.0, False)
    want = core.round3(x)  # Python's round through the kernel's fallback
    core.round3(0.0, True)
    return got, want


@settings(deadline=None, max_examples=2000)
@given(st.one_of(st.floats(-4.0, 4.0), st.floats(allow_nan=False, allow_infinity=False),
                 st.integers(-80_000, 80_000).map(lambda k: k / 16), st.integers(-8_000, 8_000).map(lambda k: k / 2000),
                 st.tuples(st.floats(0.0, 1.0), st.floats(1.0, 50.0)).map(lambda t: t[0] / t[1]),
                 st.integers(-10**6, 10**6).map(lambda k: (k + 0.5) / 1000)))
def test_round3_in_c_equals_python_round(x):
    got, want = _round3_both(x)
    assert got.hex() == want.hex() == round(x, 3).hex()  # bit for bit, the sign of zero included


def test_round3_ties_and_neighbours():
    import math

    for k in range(-4000, 4000):
        for x in (k / 16, k / 2000, (k + 0.5) / 1000):
            for y in (x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)):
                got, want = _round3_both(y)
                assert got.hex() == want.hex() == round(y, 3).hex(), y


def test_a_compiled_state_copies_and_pickles_as_the_reference_did():
    """The OrderedDict state copied and pickled (worker processes receive scorers); the C-owned one does too, with
    the same order and counts, and goes on equally."""
    import copy
    import pickle

    state = MemoryLinkState(max_devices=4, max_per_block=2, ttl_ms=50)
    now = run(state, [(i % 7, i % 3 == 0, [i % 5], [i % 4, (i + 1) % 4], i % 2 == 0, f"f{i % 3}", [i % 6, 2], [],
                       3) for i in range(40)])
    fc = state._fam
    assert FamilyCounts(fc.items()).items() == fc.items() == copy.copy(fc).items()
    for other in (copy.deepcopy(state), pickle.loads(pickle.dumps(state))):  # our own objects, never a user's file
        assert type(other._fam) is FamilyCounts and type(other._devices) is RecencyMap
        assert dump(other) == dump(state)
        ops = [(i % 9, i % 4 == 0, [i % 6], [i % 3], True, "f1", [i % 5], [], 2) for i in range(20)]
        run(other, ops, now)
        run(mirror := copy.deepcopy(state), ops, now)
        assert dump(other) == dump(mirror)
