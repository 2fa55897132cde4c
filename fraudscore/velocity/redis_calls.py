"""The parts of one Redis event call: per-slot calls, their group rows and their KEYS / ARGV.

:class:`~fraudscore.velocity.redis_store.RedisStore` splits an event into one
:class:`_Call` per hash slot it touches (one call in all on a single node); each
carries the event's fixed-width rows per key group (:func:`group_row`), the link
keys read and written with the versions seen, and the count reads and increments.
:func:`call_args` lays a call out as the ``KEYS`` and ``ARGV`` the event script of
:mod:`fraudscore.velocity.redis_lua` reads (header, context, rows, counts; formats in
:mod:`~fraudscore.velocity.redis_args`).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._core import load as load_core
from .._redis import hash_bytes, shard_of, tag
from .memory_layout import GroupLayout
from .plan import Group, finish
from .redis_args import BAND, HEADER
from .redis_wire import count_arg, identifier_hash, record_groups

__all__ = ["group_row", "call_args", "outputs", "app_hash"]

_NAN = float("nan")
_C = load_core("redis_calls")
_NONE8 = b"\x00" * 8
_EMPTY8 = b"\xff" * 8


_SLOT_CODE = {"flag": 0, "valid": 0, "val": 1, "opt": 2, "dist": 3, "app": 4}  # how group_row converts a slot
_COUNTS = frozenset(("count", "distinct", "fraud_count"))  # outputs already the feature value (an exact integer)


@dataclass
class _GroupMeta:
    group: Group
    layout: GroupLayout
    pack: struct.Struct
    outs: tuple[tuple[int, str, int], ...]
    has_labels: bool
    device_keyed: bool  # the entity key includes device_id
    device_valued: bool  # a slot reads device_id (distinct-of)
    codes: tuple[int, ...] = ()  # per slot, how group_row converts its value (_SLOT_CODE)
    count_outs: tuple[int, ...] | None = None  # every output a count (one raw value each): their feature indices
    code_bytes: bytes = b""  # codes as bytes (the compiled group_row's argument)

    def __post_init__(self) -> None:
        self.codes = tuple(_SLOT_CODE[s[0]] for s in self.group.slots)
        self.code_bytes = bytes(self.codes)
        if all(k == 1 and agg in _COUNTS for _o, agg, k in self.outs):
            self.count_outs = tuple(o for o, _a, _k in self.outs)


@dataclass
class _Call:
    """The part of one event that lives in one hash slot (everything, on a single node)."""

    tag: str
    keys: list[str] = field(default_factory=list)
    groups: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # (cfg index, key idx, label idx, member)
    link: bool = False
    device_dependent: bool = False
    ctx: str = ""
    replace: bool = False
    late: bool = False
    app: str = ""
    extra: bytes = b""
    txn: Any = None
    ts: int = 0
    anchor: bool = False  # holds the event's link outcome (the link call, else the first call)
    nonce: bytes = b"\0" * 8  # one per event request: a reply to our own retried call is not a duplicate
    sreads: list[tuple[str, bytes]] = field(default_factory=list)  # link keys read: (key, head seen)
    swrites: list[tuple[str, Any]] = field(default_factory=list)  # link keys written (None: expiry; a Touch)
    hreads: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # counts read: ((hash, field), value)
    hincr: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # count increments
    check: bool = True  # the reads must be unchanged (False: a cluster's global counts, refreshed instead)
    aux: bool = False  # cluster: only this worker's pending global count increments (no record, never late)
    lease: int = 0  # link calls: 1 = respect the link lease, 2 = also take it on a conflict
    dep: Any = None  # link calls: the decision's count dependency (CountDependency), None = check counts exactly


_TRACKED: dict[type, bool] = {}
_TRACK_ABOVE = 1e-3  # OptimisticLinkState.refused above which decisions record their dependencies


def records_dependencies(linker: Any) -> bool:
    """Whether ``linker`` decides with the package's :class:`~fraudscore.fingerprint.DeviceLinker` code, whose
    decisions record their count dependency (a subclass overriding how it decides does not)."""
    t = type(linker)
    hit = _TRACKED.get(t)
    if hit is None:
        from ..fingerprint.linker import DeviceLinker

        hit = _TRACKED[t] = isinstance(linker, DeviceLinker) and all(
            getattr(t, m) is getattr(DeviceLinker, m) for m in ("decide", "popularity", "_popularity", "link",
                                                               "read"))
    return hit


def conflict_causes(c: _Call, r: Any, plen: int, causes: dict[str, int]) -> None:
    """Count what changed under a refused decision ``r`` of call ``c``: link keys by kind (the letter after a
    prefix of ``plen`` characters: x entry, r record, b block), and ``counts``."""
    for (k, seen), v in zip(c.sreads, r[1]):
        v = v or b""
        if (bool(v) if not seen else v[:4] != seen[:4] if seen[4:] == b"\0\0\0\0" else v[:8] != seen):
            kind = k[plen:plen + 1]
            causes[kind] = causes.get(kind, 0) + 1
    if any(int(v) != seen for (_, seen), v in zip(c.hreads, r[2])):
        causes["counts"] += 1


def group_row(m: _GroupMeta, cur: list[Any], ts: int) -> bytes:
    """The event's fixed-width row for a group: time, then its slot values (compiled when the core is built)."""
    if _C is not None:
        return _C.group_row(m.code_bytes, cur, ts, identifier_hash, app_hash)  # type: ignore[no-any-return]
    return group_row_py(m, cur, ts)


def group_row_py(m: _GroupMeta, cur: list[Any], ts: int) -> bytes:
    """The reference of :func:`group_row` (``fraudscore._core.redis_calls.group_row``)."""
    vals: list[Any] = [float(ts)]
    add = vals.append
    for code, v in zip(m.codes, cur):
        if code == 0:  # flag, valid
            add(v)
        elif code == 1:  # val
            add(float(v))
        elif code == 2:  # opt
            add(_NAN if v is None else float(v))
        elif code == 3:  # dist
            add(_NONE8 if v is None else identifier_hash(v, 8))
        else:  # app
            add(_NONE8 if v is None else (_EMPTY8 if v == "" else app_hash(v, 8)))
    return m.pack.pack(*vals)


_APP_LAST: dict[int, tuple[str, bytes]] = {}  # size -> (application id, hash): the last one, per size


def app_hash(app: str, size: int) -> bytes:
    """:func:`~fraudscore._redis.hash_bytes` of an application id, the last one per size kept (an event's groups
    and its record key hash the same id; one tuple per size, replaced whole, so threads never mix two)."""
    last = _APP_LAST.get(size)
    if last is not None and last[0] == app:
        return last[1]
    h = hash_bytes(app, size)
    _APP_LAST[size] = (app, h)
    return h


_ABSENT8 = b"\0" * 8
_KIND_SET = struct.Struct("<BI")
_TOUCH = struct.Struct("<B4sdd")
_BLOCK = struct.Struct("<B4s4s4sHH")


def _value(v: Any) -> bytes:
    """One link write of the event script: 0 = refresh the expiry, 1 = set (length, bytes), 2 = touch a record
    (stamp, event time, IP), 3 = move a device to the front of a block (version if new, stamp, cached version,
    cap, device id)."""
    if v is None:
        return b"\0"
    if type(v) is bytes:
        return _KIND_SET.pack(1, len(v)) + v
    if hasattr(v, "now"):
        return _TOUCH.pack(2, v.stamp, float(v.now), float(v.ip))
    did = v.did.encode("utf-8")
    return _BLOCK.pack(3, v.version, v.stamp, v.cached, v.cap, len(did)) + did


_HHH = struct.Struct("<HHH")
_HEADER = struct.Struct(HEADER)
_COUNT_HEADS: dict[tuple[int, str], bytes] = {}  # (key index, field) -> its packed head (bounded)
_D = struct.Struct("<d")


def _counts_py(items: list[tuple[tuple[str, str], int]], keys: list[Any], hidx: dict[str, int]) -> bytes:
    """Count reads or increments as the script reads them (:func:`~.redis_wire.count_arg` each); a hash's key is
    appended to ``keys`` at its first use (``hidx``: key -> index). The reference of the compiled
    ``fraudscore._core.redis_calls.counts`` (``_counts`` when the core is built)."""
    heads = _COUNT_HEADS
    pack = _D.pack
    out = []
    last: Any = None
    ki = 0
    for (k, f), v in items:
        if k is not last:  # (the fields of one hash come together)
            last = k
            ki = hidx.get(k)  # type: ignore[assignment]
            if ki is None:
                keys.append(k)
                ki = hidx[k] = len(keys)
        h = heads.get((ki, f))
        if h is None:
            if len(heads) >= 8192:
                heads.clear()
            h = heads[(ki, f)] = count_arg(ki, f, 0)[:-8]
        out.append(h)
        out.append(pack(float(v)))
    return b"".join(out)


_counts: Any = _C.counts if _C is not None else _counts_py


def call_args(c: _Call, *, prefix: str, cluster: bool, shards: int, meta: list[_GroupMeta], lateness_ms: int,
              idempotency_ttl_ms: int, link_ttl_ms: int, labels: bytes | None = None) -> tuple[list[Any], list[Any]]:
    """KEYS and ARGV of one call (see :mod:`~fraudscore.velocity.redis_lua`); ``labels``: per group configuration,
    whether it reads fraud labels (``bytes(m.has_labels for m in meta)``, computed when not given). The link keys,
    versions, writes and group rows are laid out by the compiled ``layout`` when the core is built
    (:func:`_layout_py` is its reference)."""
    p = prefix
    # the record: per application on one node; per application and slot on a cluster
    itag = c.tag if cluster else tag(p, shard_of(c.app, shards))
    keys: list[Any] = [f"{p}i{itag}:{c.app}"]
    if labels is None:
        labels = bytes(m.has_labels for m in meta)
    versions, values, rows = (_C.layout if _C is not None else _layout_py)(keys, c.sreads, c.swrites, c.groups,
                                                                          c.keys, labels, p)
    hidx: dict[str, int] = {}
    hreads = _counts(c.hreads, keys, hidx)
    band = b""
    if c.dep is not None:  # the popularity band replaces the exact checks of one count hash (see redis_lua)
        fk, nf, fields, k, ndev, g, prior, minfam, lo, hi = c.dep
        at = {kf: i for i, (kf, _) in enumerate(c.hreads, 1)}
        band = struct.pack(BAND, hidx[fk], k, ndev, g, prior, minfam, lo, hi, at[(fk, nf)], len(fields))
        band += struct.pack(f"<{len(fields)}H", *(at[(fk, f)] for f in fields))
    hincr = _counts(c.hincr, keys, hidx)
    lease_i = 0
    if c.lease:  # one node: one lease for all link state; a cluster: one per link slot
        keys.append(f"{p}k{c.tag if cluster else tag(p, 0)}")
        lease_i = len(keys)
    lt = link_ttl_ms
    header = _HEADER.pack(float(c.ts), time.time(), int(c.late), int(c.replace), len(c.sreads),
                         len(c.swrites), len(c.groups), float(lateness_ms),
                         float(idempotency_ttl_ms if (c.app and (c.groups or c.link)) else 0), float(lt),
                         c.nonce, len(c.hreads), len(c.hincr), int(c.check), c.lease, lease_i)
    return keys, [header, c.ctx, c.extra, versions, values, rows, hreads, hincr, band]


def _layout_py(keys: list[Any], sreads: list[tuple[str, bytes]], swrites: list[tuple[str, Any]],
               groups: list[tuple[int, int, int, bytes]], gkeys: list[str], labels: bytes, p: str
               ) -> tuple[bytes, bytes, bytes]:
    """Append the link keys read and written and each group's key (and its shard's label key, once, for a group
    reading labels) to ``keys``; the versions seen, the link writes and the rows (``fraudscore._core.redis_calls.
    layout``'s reference)."""
    keys += [k for k, _ in sreads] + [k for k, _ in swrites]
    rows: list[bytes] = []
    label_idx: dict[str, int] = {}
    for (cfgi, _k, _l, row), key in zip(groups, gkeys):
        keys.append(key)
        ki = len(keys)
        li = 0
        if labels[cfgi - 1]:
            lk = f"{p}l{key[len(p) + 1:key.index('}') + 1]}"
            li = label_idx.get(lk, 0)
            if not li:
                keys.append(lk)
                li = label_idx[lk] = len(keys)
        rows.append(_HHH.pack(cfgi, ki, li) + row)
    versions = b"".join([v or _ABSENT8 for _, v in sreads])
    values = b"".join([_value(v) for _, v in swrites])
    return versions, values, b"".join(rows)


_FINISH_CODE = {"count": 1, "distinct": 1, "fraud_count": 1, "sum": 2, "mean": 3, "min": 4, "max": 4,
                "first_seen_age": 5, "time_since_last": 5, "fraud_rate": 6, "ratio_to_mean": 7}
_SPECS: dict[int, tuple[list[_GroupMeta], tuple[Any, ...]]] = {}  # id(meta) -> (meta, spec of the compiled outputs)


def _spec(meta: list[_GroupMeta]) -> tuple[Any, ...]:
    """Per group configuration, ``(feature, code, raw outputs)`` per output (code 0: a count-only group's output
    as it is, else ``_FINISH_CODE``; -1 unknown: the reference runs) for ``fraudscore._core.redis_calls.outputs``."""
    hit = _SPECS.get(id(meta))
    if hit is not None and hit[0] is meta:
        return hit[1]
    spec = tuple(tuple((o, 0, 1) for o in m.count_outs) if m.count_outs is not None else
                 tuple((o, _FINISH_CODE.get(agg, -1), k) for o, agg, k in m.outs) for m in meta)
    if len(_SPECS) >= 64:
        _SPECS.clear()
    _SPECS[id(meta)] = (meta, spec)
    return spec


def outputs(meta: list[_GroupMeta], plan: Any, ts: int, done: dict[str, tuple[str, bytes]]
            ) -> tuple[np.ndarray, bool, int]:
    """The features of an event from its calls' records (``done``: call tag -> (status, record)): the feature
    vector, whether every call was a duplicate, and the event time of the first application (compiled when the
    core is built; :func:`outputs_py` is the reference, and runs where the compiled one declines)."""
    if _C is not None:
        duplicate = bool(done) and all(s == "dup" for s, _ in done.values())
        got = _C.outputs(_spec(meta), plan.n_features, [rec for _s, rec in done.values()], duplicate, ts)
        if got is not None:
            return np.frombuffer(got[0], dtype=np.float64), duplicate, got[1]
    return outputs_py(meta, plan, ts, done)


def outputs_py(meta: list[_GroupMeta], plan: Any, ts: int, done: dict[str, tuple[str, bytes]]
               ) -> tuple[np.ndarray, bool, int]:
    """The reference of :func:`outputs`."""
    out = [_NAN] * plan.n_features
    duplicate = bool(done) and all(s == "dup" for s, _ in done.values())
    t_first = ts
    for _status, rec in done.values():
        t0, groups = record_groups(rec)
        if duplicate:
            t_first = t0
        for gi, vals in groups:
            m = meta[gi - 1]
            co = m.count_outs
            if co is not None:  # counts only: each output is the feature value (an exact integer)
                for o, v in zip(co, vals):
                    out[o] = v
                continue
            i = 0
            for o, agg, k in m.outs:
                if k == 1:
                    v = vals[i]
                    if agg in _COUNTS and v == v:  # finish() would give float(int(v)): the exact integer v
                        out[o] = v
                        i += 1
                        continue
                    raw: tuple[Any, ...] = (None if v != v else int(v),)
                else:
                    raw = tuple([None if v != v else int(v) for v in vals[i:i + k]])
                i += k
                out[o] = finish(agg, raw, t0)
    return np.array(out, dtype=np.float64), duplicate, t_first
