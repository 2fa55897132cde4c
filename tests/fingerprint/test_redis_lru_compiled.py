"""Round 15 (#15): the worker cache kept and read with less work (``_core/redis_lru.h``) == the Python reference.

``link_applied`` now leaves out the ``move_to_end`` of a key its assignment added (an exact ``OrderedDict``
appends it last); ``link_candidates`` calls a ``move_to_end`` bound once per call and makes the record keys of
the transaction's own family's ids (``<prefix>r<tag>:<id>``) instead of looking them up in ``_rkeys``. The
cache -- its values and its order --, the read set and the candidates
must be what the Python reference leaves, for an exact ``OrderedDict`` (the fast paths), for a subclass of it
(every call made, in the reference's order: the subclass sees the same calls) and for a plain ``dict`` (no
``move_to_end``: the same exception), with blocks of up to 64 candidates (a block's cap) and evictions.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.fingerprint.linkstate_redis_cache as lc
import fraudscore.fingerprint.linkstate_redis_view as lrv
from fraudscore.fingerprint.linkstate_redis import OptimisticLinkState
from fraudscore.fingerprint.linkstate_redis_ops import LinkTxn, decode_record, encode_record
from tests.fingerprint.test_linkstate_redis_compiled import commits
from tests.helpers import compiled_core

core = compiled_core("redis_calls", "the compiled Redis link cache", attr="link_candidates")


class LoggedDict(OrderedDict):
    """An OrderedDict subclass that logs the calls that change its order (a subclass takes every call)."""

    def __init__(self, *a, **k):
        self.log = []
        super().__init__(*a, **k)
        self.log = []

    def __setitem__(self, key, value):
        self.log.append(("set", key))
        super().__setitem__(key, value)

    def move_to_end(self, key, last=True):
        self.log.append(("move", key, last))
        super().move_to_end(key, last)

    def popitem(self, last=True):
        self.log.append(("pop", last))
        return super().popitem(last)

    def __deepcopy__(self, memo):
        out = LoggedDict(copy.deepcopy(list(self.items()), memo))
        out.log = []
        return out


KINDS = st.sampled_from(["exact", "exact", "sub"])


def _as(kind, cache):
    return LoggedDict(cache.items()) if kind == "sub" else OrderedDict(cache.items())


@settings(max_examples=300, deadline=None)
@given(commits(), KINDS, st.lists(st.sampled_from(["fs:new1", "fs:new2", ("fs:h", "n")]), max_size=3))
def test_applied_order_is_the_reference(drawn, kind, new_keys):
    cache, size, txn, skip, touched = drawn
    for k in new_keys:  # (keys the cache does not hold: appended by the assignment)
        if isinstance(k, tuple):
            txn.hincr[k], txn.hreads[k] = 1, 4
        else:
            txn.writes[k] = b"\1" * 8 + b"x"
    out = []
    for compiled in (False, True):
        state = OptimisticLinkState("fs:", cache_size=size)
        state._cache = _as(kind, copy.deepcopy(cache))
        if kind == "sub":
            state._cache.log = []
        with pytest.MonkeyPatch.context() as m:
            if not compiled:
                m.setattr(lc, "_APPLIED", None)
            try:
                state.applied(txn, skip, touched)
                got: object = "ok"
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
        out.append((got, list(state._cache.items()), getattr(state._cache, "log", None)))
    assert out[1] == out[0]


def _record(did, t, stamp):
    return encode_record(stamp, {"id": did, "t": t, "n": 1, "ip": 0, "fp": "f", "c": [1, 2, 3]}, 1)


@st.composite
def big_blocks(draw):
    """A worker cache with blocks of up to 64 candidates (cached, parsed or not, absent, written, too old)."""
    n = draw(st.integers(1, 70))
    dids = [f"d_a_{i}" for i in range(n)] + draw(st.lists(st.sampled_from(
        ["d_b_1", "d_b_2", "odd", "d_a", "d__", "d_a_b_c", "d_a_", "d_é_1", "D_a_1"]), unique=True, max_size=4))
    state = OptimisticLinkState("fs:", ttl_ms=1000, shards=4, cache_size=100_000)
    state.fetch = lambda keys: [None] * len(keys)
    state.preread = lambda *a: None
    txn = state.begin("a")
    cache = state._cache
    for i, did in enumerate(dids):
        rk = state._rkey(did)
        how = draw(st.sampled_from(["parsed", "parsed", "parsed", "raw", "absent", "write", "old"]))
        raw = _record(did, 500 if how != "old" else -5000, draw(st.sampled_from([b"\1" * 8, b"\2" * 8])))
        if how == "write":
            txn.writes[rk] = raw
        elif how == "absent":
            cache[rk] = (None, None)
        else:
            cache[rk] = (raw, decode_record(raw) if how in ("parsed", "old") else None)
        if draw(st.integers(0, 4)) == 0:  # other keys in between (the order must stay theirs too)
            cache[f"fs:other{i}"] = (b"\3" * 8, None)
    names = []
    for b in range(draw(st.integers(1, 3))):
        ids = draw(st.lists(st.sampled_from(dids), max_size=64, unique=True))
        cache[f"fs:b{txn.tag}:blk{b}"] = (b"\4" * 8 + ",".join(ids).encode(), None)
        names.append(f"blk{b}")
    state.end()
    skip = draw(st.sampled_from([None, dids[0]]))
    return state, txn, tuple(names), skip


@settings(max_examples=200, deadline=None)
@given(big_blocks(), st.sampled_from(["exact", "exact", "sub", "dict"]), st.booleans(),
       st.sampled_from(["a", "a", "b", None]))
def test_candidates_of_big_blocks_are_the_reference(drawn, kind, memo, family):
    """... with or without the id -> record key memo (``_rkeys``: the compiled read makes the keys of the
    transaction's own family's ids, ``family``, without it; the reference computes and keeps them)."""
    state, txn, names, skip = drawn
    out = []
    for compiled in (False, True):
        s = OptimisticLinkState("fs:", ttl_ms=state.ttl_ms, shards=state.shards, cache_size=state.cache_size)
        s._rkeys, s.fetch, s.preread = dict(state._rkeys) if memo else {}, state.fetch, state.preread
        s._cache = dict(copy.deepcopy(state._cache)) if kind == "dict" else _as(kind, copy.deepcopy(state._cache))
        if kind == "sub":
            s._cache.log = []
        t = LinkTxn()
        t.tag, t.family, t.writes = txn.tag, family, dict(txn.writes)
        with pytest.MonkeyPatch.context() as m:
            if not compiled:
                m.setattr(lrv, "_CANDIDATES", None)
                m.setattr(lrv, "_COUNTS", None)
                m.setattr(lrv, "_EXACT", None)
            s._local.txn = t
            try:
                view = s._view(t, (), names, "a", (), (), 800, lambda ex: True, None)
                got: object = [dict(r) for r in view.cands]
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
            finally:
                s._local.txn = None
        out.append((got, list(t.reads.items()), list(s._cache.items()), getattr(s._cache, "log", None)))
    assert out[1] == out[0]


class OtherKeys(OptimisticLinkState):
    """A state whose record keys are laid out otherwise (its ``_rkey`` fills the memo with them)."""

    def _rkey(self, device_id):
        k = self._rkeys.get(device_id)
        if k is None:
            k = self._rkeys[device_id] = f"{self.prefix}rx:{device_id}"
        return k


@pytest.mark.parametrize("compiled", [False, True])
def test_a_subclass_with_its_own_record_keys_reads_them(compiled):
    """A subclass that changes how record keys are made: every key is looked up (none is made by the read)."""
    s = OtherKeys("fs:", ttl_ms=1000, shards=4)
    assert not s._make_rkeys and OptimisticLinkState("fs:")._make_rkeys
    s.fetch, s.preread = (lambda keys: [None] * len(keys)), (lambda *a: None)
    t = s.begin("a")
    theirs, ours = _record("d_a_1", 700, b"\1" * 8), _record("d_a_1", 600, b"\2" * 8)
    s._cache[s._rkey("d_a_1")] = (theirs, None)
    s._cache[f"fs:r{t.tag}:d_a_1"] = (ours, None)  # (where the default layout would look)
    s._cache[f"fs:b{t.tag}:blk"] = (b"\4" * 8 + b"d_a_1", None)
    with pytest.MonkeyPatch.context() as m:
        if not compiled:
            m.setattr(lrv, "_CANDIDATES", None)
        view = s._view(t, (), ("blk",), "a", (), (), 800, lambda ex: True, None)
    s.end()
    assert [r["t"] for r in view.cands] == [700]
