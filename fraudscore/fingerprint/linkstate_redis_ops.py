"""What the Redis link state's commits carry: value heads, buffered touches and block moves, count dependencies.

Every string value of the link state (:mod:`fraudscore.fingerprint.linkstate_redis`)
starts with an 8-byte head: a 4-byte content version, then a 4-byte stamp. A
record stores its last sighting, count and IP (``<ddd``, which a touch rewrites in
the script) before the rest of its fields in binary **record layout 1**
(:data:`RECORD_LAYOUT`: a layout byte, then each field's name, a type tag and its
value; see :func:`encode_record_py`), or as JSON (what earlier versions wrote, and
what a record with a field layout 1 cannot hold is still written as); both are read. :class:`Touch` and
:class:`BlockOp` are writes the event script applies to the value as it is at
commit; a :data:`CountDependency` replaces a decision's exact count checks by a
popularity band (:func:`confidence_band`).

Examples
--------
>>> raw = encode_record(b"\\1\\2\\3\\4\\5\\6\\7\\10", {"id": "d1", "t": 5, "n": 2, "ip": 0, "fp": "a"})
>>> decode_record(raw) == {"id": "d1", "fp": "a", "t": 5, "n": 2, "ip": 0}
True
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from .._core import load as load_core

__all__ = ["BlockOp", "CountDependency", "LinkTxn", "Touch", "confidence_band", "decode_record", "encode_record",
           "decode_record_py", "encode_record_json", "encode_record_py", "record_parsed", "record_parsed_py",
           "RECORD_LAYOUT", "RECORD_LAYOUTS"]

Record = dict[str, Any]

_V = 8  # head of every string value: a 4-byte version (of the content), then a 4-byte stamp (of any write)
_ABSENT = b""
_ANY_STAMP = b"\0\0\0\0"  # a read of the content only: a touch (another sighting) does not refuse it
_TAIL = struct.Struct("<ddd")  # a record's last sighting, sightings and IP, after the head (a touch rewrites them)
_R = _V + _TAIL.size  # a record's JSON (the rest of its fields) starts here


class LinkTxn:
    """One link decision's read set and write set.

    ``reads``: string key -> version seen (``b""`` = absent); ``hreads``: (hash key,
    field) -> count seen; ``writes``: string key -> new value (``None`` = refresh the
    expiry only); ``hincr``: (hash key, field) -> increment.
    """

    __slots__ = ("dep", "family", "hincr", "hreads", "parsed", "reads", "shared_reads", "strict", "tag", "view",
                 "writes")

    def __init__(self) -> None:
        self.reads: dict[str, bytes] = {}
        self.hreads: dict[tuple[str, str], int] = {}
        self.writes: dict[str, bytes | Touch | None] = {}
        self.shared_reads: tuple[str, ...] = ()  # keys first read by the lookup of the shared (class) record
        self.hincr: dict[tuple[str, str], int] = {}
        self.tag: str | None = None
        self.family: str | None = None
        self.view: Any = None  # set by read() when the transaction records dependencies
        #: the count dependency (see :meth:`OptimisticLinkState.seal`), or None: every count read is checked
        self.dep: CountDependency | None = None
        self.strict = False  # a record missing from the cache raises _NeedRead (the state reads everything first)
        #: record key -> the parsed form of the record this transaction writes there (``record_parsed``), for the
        #: cache once committed; None: none
        self.parsed: dict[str, Record] | None = None

    def keys(self) -> list[str]:
        """Every key the transaction read or writes (hash keys once)."""
        return list(dict.fromkeys([*self.reads, *self.writes, *(k for k, _ in self.hreads),
                                   *(k for k, _ in self.hincr)]))


class _NeedRead(Exception):
    """A read met a record the cache does not hold: read everything the decision may need in one request."""


class Touch:
    """A buffered touch of a device record (seen again): last sighting ``max(t, now)``, one more sighting, the
    IP when given; applied by the script to the record as it is then, under a new stamp."""

    __slots__ = ("ip", "now", "stamp")

    def __init__(self, now: int, ip: int, stamp: bytes) -> None:
        self.now, self.ip, self.stamp = now, ip, stamp


class BlockOp:
    """A buffered move of a device to the front of a block, applied by the script to the block as it is then:
    ``version`` becomes the block's membership version when the device was not in it (the block is then cut
    to ``cap``), else the membership (and its version) stays; ``cached``: this worker's cached version (the
    script returns the block when its version is another)."""

    __slots__ = ("cached", "cap", "did", "stamp", "version")

    def __init__(self, did: str, version: bytes, stamp: bytes, cached: bytes, cap: int) -> None:
        self.did, self.version, self.stamp, self.cached, self.cap = did, version, stamp, cached, cap


_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators=...) would build one per call


#: The binary layout of a record's fields (the byte after the tail; JSON, written before it, starts with '{')
RECORD_LAYOUT = 1
#: The record layouts a store may write: 0 (JSON, what versions before layout 1 read) or 1.
RECORD_LAYOUTS = (0, 1)
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_SKIP = ("t", "n", "ip")


def _field(v: Any) -> bytes | None:
    """One field's type tag and value in layout 1, or None (not representable: the record is written as JSON)."""
    if v is None:
        return b"\0"
    if v is False:
        return b"\1"
    if v is True:
        return b"\2"
    t = type(v)
    if t is int:
        return b"\3" + _I64.pack(v) if -2**63 <= v < 2**63 else None
    if t is float:
        return b"\4" + _F64.pack(v)
    if t is str:
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return b"\5" + _U32.pack(len(b)) + b if len(b) <= 0xFFFFFFFF else None
    if t is list or t is tuple:
        if not all(type(x) is int and -2**63 <= x < 2**63 for x in v):
            return None
        return b"\6" + _U32.pack(len(v)) + struct.pack(f"<{len(v)}q", *v)
    return None


def _fields(rest: Record) -> bytes | None:
    """A record's fields (all but the tail's) in layout 1, or None (a field layout 1 cannot hold)."""
    if len(rest) > 65535:
        return None
    out = [bytes((RECORD_LAYOUT,)), _U16.pack(len(rest))]
    for k, v in rest.items():
        if type(k) is not str:
            return None
        try:
            kb = k.encode("utf-8")
        except UnicodeEncodeError:
            return None
        f = _field(v)
        if f is None or len(kb) > 65535:
            return None
        out += [_U16.pack(len(kb)), kb, f]
    return b"".join(out)


def encode_record_py(version: bytes, rec: Record) -> bytes:
    """A record's value: ``version`` (8 bytes: content version and stamp), the touched fields, the rest in layout 1:
    ``RECORD_LAYOUT``, ``<H`` fields, then per field ``<H`` name length, the name (UTF-8), a tag and the value (0
    None, 1 False, 2 True, 3 int ``<q``, 4 float ``<d``, 5 str ``<I`` length + UTF-8, 6 list of ints ``<I`` n +
    ``<q`` each); JSON when a field is anything else (the reference of the compiled ``encode_record``)."""
    rest = {k: v for k, v in rec.items() if k not in _SKIP}
    head = version + _TAIL.pack(rec["t"], rec["n"], rec.get("ip", 0))
    body = _fields(rest)
    return head + (body if body is not None else _JSON.encode(rest).encode("utf-8"))


def encode_record_json(version: bytes, rec: Record) -> bytes:
    """A record's value with its fields as JSON: what versions before record layout 1 write and read (the store's
    ``link_record_layout=0``, for a rolling upgrade: every worker of this version reads both forms)."""
    rest = {k: v for k, v in rec.items() if k not in _SKIP}
    return version + _TAIL.pack(rec["t"], rec["n"], rec.get("ip", 0)) + _JSON.encode(rest).encode("utf-8")


def _unfields(raw: bytes, pos: int) -> Record:
    end = len(raw)

    def need(n: int) -> None:
        if n < 0 or pos + n > end:
            raise ValueError("a truncated link record")

    need(2)
    (nf,) = _U16.unpack_from(raw, pos)
    pos += 2
    rec: Record = {}
    for _ in range(nf):
        need(2)
        (kl,) = _U16.unpack_from(raw, pos)
        pos += 2
        need(kl + 1)
        k = raw[pos:pos + kl].decode("utf-8")
        pos += kl
        tag = raw[pos]
        pos += 1
        v: Any
        if tag <= 2:
            v = (None, False, True)[tag]
        elif tag == 3 or tag == 4:
            need(8)
            (v,) = (_I64 if tag == 3 else _F64).unpack_from(raw, pos)
            pos += 8
        elif tag == 5 or tag == 6:
            need(4)
            (n,) = _U32.unpack_from(raw, pos)
            pos += 4
            if tag == 5:
                need(n)
                v = raw[pos:pos + n].decode("utf-8")
                pos += n
            else:
                need(8 * n)
                v = list(struct.unpack_from(f"<{n}q", raw, pos))
                pos += 8 * n
        else:
            raise ValueError(f"a link record field of unknown type {tag}")
        rec[k] = v
    if pos != end:
        raise ValueError("a link record with trailing bytes")
    return rec


def decode_record_py(raw: bytes) -> Record:
    """The record of a value written by :func:`encode_record` (or touched by the script): layout 1, or the JSON of
    earlier versions (the reference of the compiled ``decode_record``)."""
    rec = _unfields(raw, _R + 1) if raw[_R:_R + 1] == bytes((RECORD_LAYOUT,)) else json.loads(raw[_R:])
    t, n, ip = _TAIL.unpack_from(raw, _V)
    rec["t"], rec["n"], rec["ip"] = int(t), int(n), int(ip)
    return rec


_C = load_core("redis_calls")
decode_record: Any = _C.decode_record if _C is not None else decode_record_py


def encode_record(version: bytes, rec: Record, layout: int = RECORD_LAYOUT) -> bytes:
    """:func:`encode_record_py`, compiled when the core is built; ``layout=0``: :func:`encode_record_json`."""
    if layout == 0:
        return encode_record_json(version, rec)
    if _C is not None:
        out = _C.encode_record(version, rec)
        if out is not None:
            return out  # type: ignore[no-any-return]
    return encode_record_py(version, rec)


def record_parsed_py(rec: Record) -> Record | None:
    """What :func:`decode_record` gives for ``rec`` written in layout 1 (``decode_record(encode_record(v, rec))``:
    its fields in order, lists of ints, the tail's sighting, count and IP as integers through a double), or None
    where layout 1 cannot hold a field or the tail would not read back. The worker's cache keeps this parsed form
    of the records it writes, so its next read of them parses nothing (the reference of the compiled
    ``record_parsed``, which makes the same dict from ``rec`` without the bytes). None for anything but a ``dict``
    (a subclass may iterate in another order than the encoder reads it)."""
    if type(rec) is not dict or _fields({k: v for k, v in rec.items() if k not in _SKIP}) is None:
        return None
    try:
        return decode_record_py(encode_record_py(b"\0" * _V, rec))
    except (KeyError, TypeError, ValueError, OverflowError, struct.error):
        return None


#: :func:`record_parsed_py`, compiled when the core is built (None without it: the cache then parses a written
#: record when it is next read, as before)
record_parsed: Any = getattr(_C, "record_parsed", None)


#: How a decision depends on a family's value counts: (hash key, the fields of the device count and of the
#: popularity's values, k, devices with the fingerprint, global factor, mobile prior (0 = none), least
#: family devices for the counts alone, lowest and highest popularity with the same outcome).
CountDependency = tuple[str, str, tuple[str, ...], int, float, float, float, float, float, float]


def _common() -> float:
    from .linker import COMMON_POPULARITY

    return COMMON_POPULARITY


def _conf(pop: float, x: float, floor: float) -> float:
    return round(min(1.0, x / max(pop, floor)), 3)


def confidence_band(pop: float, x: float, floor: float, split: bool, conf: float) -> tuple[float, float] | None:
    """Popularities ``[lo, hi]`` around ``pop`` for which a decision keeps its outcome, or None.

    The outcome's confidence is ``round(min(1, x / max(pop, floor)), 3)`` (non-increasing in ``pop``: its
    level set is an interval, whose ends are found from the rounding edges and verified) and, with ``split``,
    its plan changes where ``pop`` reaches :data:`~fraudscore.fingerprint.COMMON_POPULARITY`. None when
    ``conf`` is not that formula's value at ``pop`` (then the counts are checked exactly).

    Examples
    --------
    >>> lo, hi = confidence_band(1.0002, 1.0, 1.0, True, 1.0)
    >>> lo == -math.inf and 1.0005 <= hi < 1.00051
    True
    >>> confidence_band(1.2, 1.0, 1.0, True, 0.5) is None   # not this formula's outcome
    True
    """
    if _conf(pop, x, floor) != conf or not (x >= 0.0) or math.isnan(pop):
        return None
    lo, hi = -math.inf, math.inf
    if split:
        common = _COMMON[0] if _COMMON else _COMMON.append(_common()) or _COMMON[0]
        if pop >= common:
            lo = common
        else:
            hi = math.nextafter(common, -math.inf)
    if x > 0.0:
        # the edges of the rounding step of x / max(pop, floor); verified, moved towards pop if off by rounding
        up = x / (conf - 0.0005) if conf > 0.0 else math.inf
        down = x / (conf + 0.0005) if conf < 1.0 else -math.inf
        if down <= floor and _conf(floor, x, floor) == conf:
            down = -math.inf  # below the floor the confidence is constant
        hi = min(hi, _edge(pop, up, x, floor, conf))
        lo = max(lo, _edge(pop, down, x, floor, conf))
    return (lo, hi) if lo <= pop <= hi else None


_COMMON: list[float] = []  # COMMON_POPULARITY, imported on first use (the linker imports the link states)


def _edge(pop: float, cand: float, x: float, floor: float, conf: float) -> float:
    """A popularity between ``pop`` and ``cand`` (as near ``cand`` as found) with the same confidence."""
    if math.isinf(cand):
        return cand
    for _ in range(3):
        if _conf(cand, x, floor) == conf:
            return cand
        cand = pop + (cand - pop) * (1.0 - 1e-9)
    return pop
