"""The compiled link-cache calls of the Redis link state == their Python reference (no server needed).

When the core is built, ``OptimisticLinkState._view`` reads a decision's exact match, candidate records and
value counts from the worker's cache with ``link_exact`` / ``link_candidates`` / ``link_counts``
(``fraudscore/_core/redis_linkcache.h``), and ``write`` / ``WorkerCache.applied`` use ``link_write_keys``,
``link_incr`` and ``link_applied`` (``redis_linkwrite.h``). Here two copies of one random state run the same
call, one through the compiled code and one through the Python reference: the view, the read set (in its
order), the count reads, the write set, the cache (values and order), the statistics and the keys fetched must
be equal, or both must raise the same exception.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.fingerprint.linkstate_redis as lr
import fraudscore.fingerprint.linkstate_redis_view as lrv
from fraudscore.fingerprint.linkstate_redis import OptimisticLinkState
from fraudscore.fingerprint.linkstate_redis_ops import BlockOp, LinkTxn, Touch, _NeedRead, decode_record, encode_record
from tests.helpers import compiled_core

core = compiled_core("redis_calls", "the compiled Redis link cache reads", attr="link_candidates")

FAMILIES = ("a", "b")
DIDS = [f"d_{f}_{i}" for f in FAMILIES for i in range(5)] + ["odd", ""]
BLOCKS = ("b1", "b2", "b3")
STAMPS = st.sampled_from([b"\1\2\3\4\5\6\7\10", b"\1\2\3\4\0\0\0\0", b"\0\0\0\0\0\0\0\0", b"\11\2\3\4\5\6\7\10"])


@st.composite
def states(draw):
    """(state, txn, block names, skip, now, ttl, fam keys): a cache, a read set and a write set drawn at random."""
    st_ = OptimisticLinkState("fs:", ttl_ms=draw(st.sampled_from([5, 500, 10**6])), shards=4, cache_size=10_000)
    fetched: list[list[str]] = []
    st_.fetched = fetched  # type: ignore[attr-defined]

    def fetch(keys):
        fetched.append(list(keys))
        return [None] * len(keys)

    st_.fetch = fetch
    st_.refused = draw(st.sampled_from([0.0, 0.5]))
    st_.preread = draw(st.sampled_from([None, lambda *a: None]))
    txn = st_.begin(draw(st.sampled_from(FAMILIES)))
    for did in DIDS:
        if draw(st.booleans()):
            st_._rkey(did)  # (known record keys; the others are computed by the reference)
    keys = [st_._rkey(d) for d in DIDS if d in st_._rkeys]
    for k in keys:
        how = draw(st.sampled_from(["none", "absent", "raw", "parsed", "parsed", "raw", "write", "touch"]))
        rec = {"id": "x", "t": draw(st.integers(0, 2000)), "n": 1, "ip": 0, "fp": draw(st.text(max_size=3))}
        raw = encode_record(draw(STAMPS), rec, draw(st.sampled_from([0, 1])))
        if how == "absent":
            st_._cache[k] = (None, None)
        elif how in ("raw", "parsed"):
            st_._cache[k] = (raw, decode_record(raw) if how == "parsed" else None)
        elif how == "write":
            txn.writes[k] = raw
        elif how == "touch":
            txn.writes[k] = Touch(5, 0, b"\1\1\1\1")
            st_._cache[k] = (raw, None)
        if draw(st.booleans()):
            txn.reads[k] = draw(st.sampled_from([b"", raw[:8]]))
    for b in BLOCKS:
        bk = f"fs:b{txn.tag}:{b}"
        ids = draw(st.lists(st.sampled_from(DIDS), max_size=6))
        raw = draw(STAMPS) + ",".join(ids).encode()
        how = draw(st.sampled_from(["none", "absent", "raw", "write", "op"]))
        if how == "absent":
            st_._cache[bk] = (None, None)
        elif how == "raw":
            st_._cache[bk] = (raw, None)
        elif how == "write":
            txn.writes[bk] = raw
        elif how == "op":
            txn.writes[bk] = BlockOp("d_a_1", b"\1\1\1\1", b"\2\2\2\2", b"\0\0\0\0", 4)
            st_._cache[bk] = (raw, None)
        if draw(st.booleans()):
            txn.reads[bk] = draw(STAMPS)
    fk = f"fs:f{txn.tag}:fam"
    fam_keys = draw(st.lists(st.integers(0, 6), max_size=5))
    for k in range(7):
        if draw(st.booleans()):
            lr._FIELDS.setdefault(k, str(k))
        if draw(st.booleans()):
            st_._cache[(fk, str(k))] = (draw(st.integers(0, 9)), None)
        if draw(st.booleans()):
            txn.hincr[(fk, str(k))] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        st_._cache[(fk, "n")] = (draw(st.integers(0, 9)), None)
    skip = draw(st.sampled_from([None, *DIDS]))
    if skip is not None:  # an exact entry naming it: the candidates leave that device out when it is live
        st_._cache[f"fs:x{txn.tag}:fp1"] = (b"\1" * 8 + f"{skip}|2".encode(), None)
    for fid in ("fp0", "fp2"):  # other exact entries: a device, a damaged entry, absent, this decision's write
        how = draw(st.sampled_from(["none", "absent", "did", "did", "bad", "write"]))
        xk = f"fs:x{txn.tag}:{fid}"
        val = draw(STAMPS) + (b"d_a_1|x" if how == "bad" else f"{draw(st.sampled_from(DIDS))}|3".encode())
        if how == "absent":
            st_._cache[xk] = (None, None)
        elif how in ("did", "bad"):
            st_._cache[xk] = (val, None)
        elif how == "write":
            txn.writes[xk] = val
    txn.strict = draw(st.booleans())
    st_.end()
    names = tuple(draw(st.lists(st.sampled_from(BLOCKS), max_size=4)))
    return st_, txn, names, skip, draw(st.integers(0, 3000)), fam_keys


def _clone(state, txn):
    """An independent copy of a drawn state and transaction."""
    other = OptimisticLinkState("fs:", ttl_ms=state.ttl_ms, shards=state.shards, cache_size=state.cache_size)
    other._cache = copy.deepcopy(state._cache)
    other._rkeys = dict(state._rkeys)
    other.refused, other.preread = state.refused, state.preread
    other.fetched = []

    def fetch(keys):
        other.fetched.append(list(keys))
        return [None] * len(keys)

    other.fetch = fetch
    otxn = LinkTxn()
    otxn.tag, otxn.family, otxn.strict = txn.tag, txn.family, txn.strict
    otxn.reads, otxn.writes = dict(txn.reads), dict(txn.writes)
    otxn.hreads, otxn.hincr = dict(txn.hreads), dict(txn.hincr)
    return other, otxn


def _run(state, txn, names, skip, now, fam_keys, compiled):
    with pytest.MonkeyPatch.context() as m:
        if not compiled:
            m.setattr(lrv, "_CANDIDATES", None)
            m.setattr(lrv, "_COUNTS", None)
            m.setattr(lrv, "_EXACT", None)
        state._local.txn = txn
        try:
            view = state._view(txn, ("fp0", "fp1", "fp2") if skip is not None else ("fp0", "fp2"), names, "fam",
                               fam_keys, (), now, lambda ex: True, None)
            got = ("ok", view.exact, [dict(r) for r in view.cands], view.fam_n, dict(view.fam_counts))
        except _NeedRead:
            got = ("need_read",)
        except Exception as exc:  # noqa: BLE001
            got = ("raised", type(exc))
        finally:
            state._local.txn = None
    return got, list(txn.reads.items()), list(txn.hreads.items()), list(state._cache.items()), state.fetched


@settings(max_examples=400, deadline=None)
@given(states())
def test_view_reads_are_the_reference(drawn):
    state, txn, names, skip, now, fam_keys = drawn
    other, otxn = _clone(state, txn)
    ref = _run(other, otxn, names, skip, now, fam_keys, False)
    got = _run(state, txn, names, skip, now, fam_keys, True)
    assert got == ref


def _run_shared(state, txn, shared, now, compiled):
    """The view's exact match and its shared (class) record, looked up under ``shared``."""
    with pytest.MonkeyPatch.context() as m:
        if not compiled:
            m.setattr(lrv, "_EXACT", None)
        state._local.txn = txn
        try:
            view = state._view(txn, ("fp0",), (), "fam", (), (), now, lambda ex: False, shared)
            got = ("ok", view.exact, view.shared)
        except _NeedRead:
            got = ("need_read",)
        except Exception as exc:  # noqa: BLE001
            got = ("raised", type(exc))
        finally:
            state._local.txn = None
    return got, list(txn.reads.items()), list(state._cache.items()), state.fetched


@settings(max_examples=300, deadline=None)
@given(states(), st.sampled_from(["fp0", "fp1", "fp2", "fp3"]))
def test_shared_lookup_is_the_reference(drawn, shared):
    """The shared record's lookup in the compiled exact match (one id) == ``_exact`` then ``_record``."""
    state, txn, _names, _skip, now, _fam_keys = drawn
    other, otxn = _clone(state, txn)
    ref = _run_shared(other, otxn, shared, now, False)
    got = _run_shared(state, txn, shared, now, True)
    assert got == ref


def test_compiled_reads_skip_the_exact_device():
    st_ = OptimisticLinkState("fs:", ttl_ms=100, shards=2)
    st_.fetch = lambda keys: [None] * len(keys)
    txn = st_.begin("a")
    recs = {d: encode_record(b"\1" * 8, {"id": d, "t": 50, "n": 1, "ip": 0}) for d in ("d_a_1", "d_a_2")}
    for d, raw in recs.items():
        st_._cache[st_._rkey(d)] = (raw, None)
    st_._cache[f"fs:b{txn.tag}:b1"] = (b"\2" * 8 + b"d_a_2,d_a_1,d_a_2", None)
    view = st_._view(txn, (), ("b1",), "a", (), (), 100, None, None)
    assert [r["id"] for r in view.cands] == ["d_a_2", "d_a_1"]
    assert txn.reads[f"fs:b{txn.tag}:b1"] == b"\2" * 4 + b"\0" * 4  # a read of the block's membership only
    st_.end()


KEYS = [f"k{i}" for i in range(6)]
HKEYS = [(h, f) for h in ("fs:f{x}:a", "fs:g{y}") for f in ("n", "1", "2")]


def _record_value(draw, stamp):
    rec = {"id": "d", "t": draw(st.integers(0, 99)), "n": draw(st.integers(0, 9)), "ip": 0, "c": [1, 2]}
    return encode_record(stamp, rec)


@st.composite
def commits(draw):
    """(cache, size, txn, skip, touched): a committed transaction and the cache it goes into."""
    from collections import OrderedDict

    cache: OrderedDict = OrderedDict()
    for k in draw(st.permutations(KEYS + HKEYS)):
        how = draw(st.sampled_from(["none", "count"] if type(k) is tuple else
                                   ["none", "absent", "block", "block", "record", "parsed", "parsed"]))
        if how == "absent":
            cache[k] = (None, None)
        elif how == "block":
            ids = draw(st.lists(st.sampled_from(["d1", "d2", "d3", ""]), max_size=4))
            cache[k] = (draw(STAMPS) + ",".join(ids).encode(), None)
        elif how in ("record", "parsed"):
            raw = _record_value(draw, draw(STAMPS))
            cache[k] = (raw, decode_record(raw) if how == "parsed" else None)
        elif how == "count":
            cache[k] = (draw(st.integers(0, 9)), None)
    txn = LinkTxn()
    touched = {}
    for k in draw(st.lists(st.sampled_from(KEYS), unique=True)):
        how = draw(st.sampled_from(["none", "bytes", "touch", "block"]))
        if how == "none":
            txn.writes[k] = None
        elif how == "bytes":
            txn.writes[k] = draw(st.binary(min_size=8, max_size=20))
        elif how == "touch":
            txn.writes[k] = Touch(5, 0, b"\1\1\1\1")
            if draw(st.integers(0, 3)):
                touched[k] = _record_value(draw, draw(STAMPS))[:32]
        else:
            hit = cache.get(k)
            same = (hit[0] or b"")[:4] if hit and type(hit[0]) is bytes else b"\0\0\0\0"
            cached = draw(st.sampled_from([b"\0\0\0\0", b"\1\2\3\4", same, same, same]))
            txn.writes[k] = BlockOp(draw(st.sampled_from(["d1", "d2", "d4"])), b"\5\5\5\5", b"\6\6\6\6", cached,
                                    draw(st.integers(-1, 4)))
            if draw(st.integers(0, 3)):
                touched[k] = draw(st.sampled_from([b"", b"", b"\7" * 8 + b"d9,d1"]))
    for hk in draw(st.lists(st.sampled_from(HKEYS), unique=True)):
        txn.hincr[hk] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            txn.hreads[hk] = draw(st.integers(0, 9))
    skip = draw(st.sampled_from([None, "fs:g{y}"]))
    return cache, draw(st.integers(1, 14)), txn, skip, draw(st.sampled_from([None, touched, touched]))


@settings(max_examples=400, deadline=None)
@given(commits())
def test_applied_is_the_reference(drawn):
    import fraudscore.fingerprint.linkstate_redis_cache as lc

    cache, size, txn, skip, touched = drawn
    out = []
    for compiled in (False, True):
        state = OptimisticLinkState("fs:", cache_size=size)
        state._cache = copy.deepcopy(cache)
        with pytest.MonkeyPatch.context() as m:
            if not compiled:
                m.setattr(lc, "_APPLIED", None)
            try:
                state.applied(txn, skip, touched)
                got: object = "ok"
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
        out.append((got, list(state._cache.items())))
    assert out[1] == out[0]


@given(st.lists(st.integers(0, 5)), st.lists(st.integers(0, 5)), st.booleans(), st.booleans())
def test_write_increments_are_the_reference(fam_keys, glob_keys, new_device, seen_before):
    from fraudscore.fingerprint.linkstate import LinkPlan

    out = []
    for compiled in (False, True):
        state = OptimisticLinkState("fs:", shards=2)
        state.fetch = lambda keys: [None] * len(keys)
        txn = state.begin("a")
        if seen_before:
            txn.hincr[(f"fs:f{txn.tag}:a", "n")] = 2
        rec = {"id": "d_a_1", "t": 1, "n": 1, "ip": 0}
        plan = LinkPlan(rec, (), (), 1, new_device, "a", tuple(fam_keys), tuple(glob_keys))
        with pytest.MonkeyPatch.context() as m:
            if not compiled:
                m.setattr(lr, "_INCR", None)
            state.write(plan, 5)
        state.end()
        out.append(list(txn.hincr.items()))
    assert out[1] == out[0]


def _stream_versions():
    """A deterministic stream of 8-byte versions (the compiled write draws them in the reference's order)."""
    n = [0]

    def version():
        n[0] += 1
        return n[0].to_bytes(4, "little") + (n[0] * 7).to_bytes(4, "little")

    return version


@st.composite
def plans(draw):
    """(state, txn, plan, now): a link plan over a random cache (exact entries, blocks, records)."""
    from collections import OrderedDict

    from fraudscore.fingerprint.linkstate import LinkPlan

    state = OptimisticLinkState("fs:", ttl_ms=draw(st.sampled_from([5, 10**6])), shards=2,
                                max_per_block=draw(st.integers(1, 4)))
    txn = state.begin("a")
    state.end()
    did = draw(st.sampled_from(["d_a_1", "d_a_2", "d_b_1", "odd"]))
    cache: OrderedDict = OrderedDict()
    for fid in ("f1", "f2", "f3"):
        how = draw(st.sampled_from(["none", "absent", "same", "other", "bad", "write"]))
        xk = f"fs:x{txn.tag}:{fid}"
        nd = draw(st.integers(1, 3))
        if how == "absent":
            cache[xk] = (None, None)
        elif how in ("same", "other"):
            cache[xk] = (draw(STAMPS) + f"{did if how == 'same' else 'd_a_9'}|{nd}".encode(), None)
        elif how == "bad":
            cache[xk] = (draw(STAMPS) + b"d_a_1|x", None)
        elif how == "write":
            txn.writes[xk] = draw(STAMPS) + f"{did}|{nd}".encode()
    for b in ("b1", "b2"):
        ids = draw(st.lists(st.sampled_from(["d_a_1", "d_a_2", "d_a_3", "d_b_1", ""]), max_size=5))
        how = draw(st.sampled_from(["none", "absent", "raw", "raw"]))
        if how == "absent":
            cache[f"fs:b{txn.tag}:{b}"] = (None, None)
        elif how == "raw":
            cache[f"fs:b{txn.tag}:{b}"] = (draw(STAMPS) + ",".join(ids).encode(), None)
    for d in ("d_a_1", "d_a_2", "d_a_3", "d_b_1"):
        if draw(st.booleans()):
            cache[state._rkey(d)] = (encode_record(b"\1" * 8, {"id": d, "t": draw(st.integers(0, 20)), "n": 1}), None)
    state._cache = cache
    fids = tuple(draw(st.lists(st.sampled_from(["f1", "f2", "f3"]))))
    blocks = tuple(draw(st.lists(st.sampled_from(["b1", "b2", "b3"]))))
    plan = LinkPlan({"id": did, "t": 3, "n": 1, "ip": 0}, fids, blocks, draw(st.integers(1, 3)), draw(st.booleans()),
                    "a", touch=draw(st.booleans()))
    return state, txn, plan, draw(st.integers(0, 30))


def _attrs(v):
    return (type(v).__name__, *(getattr(v, s) for s in v.__slots__)) if hasattr(v, "__slots__") else v


@settings(max_examples=400, deadline=None)
@given(plans())
def test_write_keys_are_the_reference(drawn):
    state, txn, plan, now = drawn
    out = []
    for compiled in (False, True):
        st_ = OptimisticLinkState("fs:", ttl_ms=state.ttl_ms, shards=2, max_per_block=state.max_per_block)
        st_._cache = copy.deepcopy(state._cache)
        st_._version = _stream_versions()
        t = LinkTxn()
        t.tag, t.family = txn.tag, txn.family
        t.reads, t.writes = dict(txn.reads), dict(txn.writes)
        st_._local.txn = t
        with pytest.MonkeyPatch.context() as m:
            if not compiled:
                m.setattr(lr, "_WRITE_KEYS", None)
            try:
                st_.write(plan, now)
                got: object = "ok"
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
        st_._local.txn = None
        out.append((got, list(t.reads.items()), [(k, _attrs(v)) for k, v in t.writes.items()],
                    list(st_._cache.items()), st_.live_evictions))
    assert out[1] == out[0]
