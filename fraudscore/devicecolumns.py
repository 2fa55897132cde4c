"""Device columns of a batch: fingerprints, device signals and links, as the online path computes them.

:func:`device_columns` fingerprints each distinct device mapping of a batch once
(the same mapping object on many rows is fingerprinted once), fills the device
signal features and links every row with a fingerprint in input order through
:func:`link_rows`, the one link loop of the batch path and of partitioned
replays (:mod:`fraudscore.distributed`). A link below
:data:`~fraudscore.fingerprint.MIN_LINK_CONFIDENCE` keys nothing: its
``device_id`` is ``None``, as online.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from ._core import load as load_core
from .fingerprint import (DEVICE_FEATURES, MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, device_signal_matrix,
                          device_signals)
from .fingerprint import signals as _signals
from .fingerprint.canonical import ATTRIBUTE_INDEX, canonicalize
from .fingerprint.signals import TIMEZONE_COUNTRY

__all__ = ["DeferredLinks", "device_columns", "device_columns_deferred", "device_signal_rows", "fingerprint_distinct",
           "link_rows"]

_TZ_IDX = ATTRIBUTE_INDEX["timezone"]
_TZ_POS = DEVICE_FEATURES.index("device__tz_ip_mismatch")


def device_columns(fingerprinter: Fingerprinter, columns: Mapping[str, np.ndarray], ts: np.ndarray, n: int,
                   static: np.ndarray, j: int, linker: DeviceLinker | None,
                   ip_prefix: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fingerprints and device signals once per distinct device mapping; links row by row in input order.

    Writes the device signals and the link confidence into ``static[:, j:]`` (in
    place) and returns the record columns ``device_id``, ``device_fp``,
    ``device_hw`` and ``device_canvas`` (with ``linker=None``: ``device_id`` all
    ``None``, the confidence NaN and ``device_fingerprint`` for a later link pass).
    """
    out, codes, fps = _unlinked(fingerprinter, columns, n, static, j)
    nd = len(DEVICE_FEATURES)
    if linker is None:  # linking happens elsewhere (a partitioned replay): hand the fingerprints over
        fp_rows = np.full(n, None, dtype=object)
        has = codes >= 0
        if has.any():
            fp_rows[has] = _objects(fps)[codes[has]]
        static[:, j + nd] = np.nan
        return {"device_id": np.full(n, None, dtype=object), "device_fingerprint": fp_rows, **out}
    rows, row_fps = _rows_with_fingerprint(codes, fps)
    device_id, conf = link_rows(row_fps, ts, rows, ip_prefix, linker, n)
    static[:, j + nd] = conf
    return {"device_id": device_id, **out}


class DeferredLinks:
    """The link loop of :func:`device_columns`, run later and in row ranges (:func:`device_columns_deferred`).

    ``device_id`` starts all ``None`` and the link confidence column of ``static`` all NaN; :meth:`link` links the
    rows of ``[a, b)`` that have a fingerprint through :func:`link_rows` (the one link loop) and fills both there.
    Linking consecutive ranges in order makes the same linker calls in the same order as one :func:`link_rows`
    over every row, so the results are the same (``tests/test_batchoverlap.py``).
    """

    def __init__(self, row_fps: np.ndarray, ts: np.ndarray, rows: np.ndarray, ip_prefix: np.ndarray | None,
                 linker: DeviceLinker, n: int, conf: np.ndarray) -> None:
        self.row_fps, self.ts, self.rows, self.ip_prefix, self.linker = row_fps, ts, rows, ip_prefix, linker
        self.device_id = np.full(n, None, dtype=object)
        self.conf = conf  # a column (view) of the static matrix
        self.conf[:] = np.nan

    def link(self, a: int, b: int) -> None:
        """Link the rows of ``[a, b)`` (after every row before ``a``)."""
        lo, hi = np.searchsorted(self.rows, [a, b]).tolist()
        if lo == hi:
            return
        rows = self.rows[lo:hi]
        ip = None if self.ip_prefix is None else self.ip_prefix[:b]
        ids, conf = link_rows(self.row_fps[lo:hi], self.ts[:b], rows, ip, self.linker, b)
        self.device_id[rows] = ids[rows]
        self.conf[rows] = conf[rows]


def device_columns_deferred(fingerprinter: Fingerprinter, columns: Mapping[str, np.ndarray], ts: np.ndarray, n: int,
                            static: np.ndarray, j: int, linker: DeviceLinker,
                            ip_prefix: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], DeferredLinks]:
    """:func:`device_columns` with the link loop left to the caller: the record columns (``device_id`` filled as
    :meth:`DeferredLinks.link` runs) and the :class:`DeferredLinks` that links the rows, range by range."""
    out, codes, fps = _unlinked(fingerprinter, columns, n, static, j)
    rows, row_fps = _rows_with_fingerprint(codes, fps)
    links = DeferredLinks(row_fps, np.asarray(ts, dtype=np.int64), rows, ip_prefix, linker, n,
                          static[:, j + len(DEVICE_FEATURES)])
    return {"device_id": links.device_id, **out}, links


def _rows_with_fingerprint(codes: np.ndarray, fps: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The rows that have a fingerprint (``codes >= 0``) and their fingerprints, as the link loop takes them."""
    rows = np.flatnonzero(codes >= 0)
    return rows, (_objects(fps)[codes[rows]] if len(rows) else np.empty(0, dtype=object))


def _unlinked(fingerprinter: Fingerprinter, columns: Mapping[str, np.ndarray], n: int, static: np.ndarray,
              j: int) -> tuple[dict[str, np.ndarray], np.ndarray, list[Any]]:
    """Fingerprints and device signals of :func:`device_columns` (everything but the links): the record columns
    ``device_fp``, ``device_hw`` and ``device_canvas``, each row's fingerprint code (-1: none) and the
    fingerprints."""
    dev = columns.get("device")
    codes = np.full(n, -1, dtype=np.int64)
    fps: list[Any] = []
    if dev is not None:
        codes, firsts = _distinct_objects(dev.tolist())  # the same mapping object on many rows: fingerprint it once
        got = fingerprint_distinct(fingerprinter, firsts)
        keep = np.array([fp is not None for fp in got] + [False], dtype=bool)
        renum = np.cumsum(keep) - 1  # drop devices without a fingerprint (empty mappings)
        renum[~keep] = -1
        codes = renum[np.where(codes < 0, len(got), codes)]
        fps = [fp for fp in got if fp is not None]
    nd = len(DEVICE_FEATURES)
    static[:, j : j + nd] = device_signal_rows(fps, codes, columns.get("ip_country"))
    m = len(fps)
    out = {}
    at = np.where(codes < 0, m, codes)  # the missing rows' slot (m) holds None
    for k, attr in (("device_fp", "id"), ("device_hw", "hardware"), ("device_canvas", "canvas")):
        u = np.fromiter(chain(map(attrgetter(attr), fps), (None,)), dtype=object, count=m + 1)
        out[k] = u.take(at)
    return out, codes, fps


def fingerprint_distinct(fingerprinter: Fingerprinter, devices: list[Any]) -> list[Any]:
    """Fingerprints of a batch's distinct device mapping objects: equal to
    :meth:`Fingerprinter.fingerprint_many <fraudscore.fingerprint.Fingerprinter.fingerprint_many>` of ``devices``.

    ``devices`` are already distinct objects (:func:`_distinct_objects`), and distinct mapping objects of a
    stream are nearly always distinct in content (98.6 % of the bench stream's 88k), so with the compiled
    builder each is built directly: ``fingerprint_many``'s content key per mapping (a compiled hash of its items,
    1.1-1.3 µs a device, to fingerprint equal mappings once) costs more than the few rebuilt duplicates. Equal
    mappings give equal (not identical) fingerprints. Without the compiled builder: ``fingerprint_many``.

    >>> from fraudscore.keys import Keys
    >>> fpr = Fingerprinter(Keys("0123456789abcdef-demo"))
    >>> fingerprint_distinct(fpr, [{"os": "ios"}, None, {}]) == fpr.fingerprint_many([{"os": "ios"}, None, {}])
    True
    """
    build = getattr(fingerprinter, "_build1", None)
    if build is None:
        return fingerprinter.fingerprint_many(devices)
    from_canonical = fingerprinter.from_canonical
    out: list[Any] = []
    append = out.append
    for d in devices:
        if not d:
            append(None)
            continue
        fp = build(d)
        append(from_canonical(canonicalize(d)) if fp is None else fp)
    return out


def device_signal_rows(fps: list[Any], codes: np.ndarray, ip_country: np.ndarray | None = None) -> np.ndarray:
    """Device signals of a batch's rows: equal to :func:`~fraudscore.fingerprint.device_signal_matrix`.

    Each distinct fingerprint's static row comes from the compiled cached-row read of the online path
    (``signal_row`` of ``_core/fingerprint_signals.c``: the static key built and looked up in C), or, when not
    cached yet, from the same reference that fills that cache (``signals._static_row``); the rows are stacked once
    (no row assignment per device). The timezone / IP-country column is then filled per row exactly as
    ``device_signal_matrix`` fills it. Without the compiled read: ``device_signal_matrix``.

    >>> from fraudscore.keys import Keys
    >>> fp = Fingerprinter(Keys("0123456789abcdef-demo")).fingerprint({"os": "ios", "timezone": "Asia/Shanghai"})
    >>> codes, ipc = np.array([0, -1, 0]), np.array(["us", "CN", " cn "], dtype=object)
    >>> np.array_equal(device_signal_rows([fp], codes, ipc), device_signal_matrix([fp], codes, ipc), equal_nan=True)
    True
    """
    read = getattr(_signals, "_ROW_CORE", None)
    ctx = getattr(_signals, "_ROW_CTX", None)
    static_row = getattr(_signals, "_static_row", None)
    if read is None or ctx is None or static_row is None:
        return device_signal_matrix(fps, codes, ip_country)
    codes = np.asarray(codes, dtype=np.int64)
    m = len(fps)
    rows: list[Any] = []
    append = rows.append
    for fp in fps:
        r = read(ctx, fp, None)  # a copy of the cached static row (the IP-country column NaN), or None
        append(static_row(fp.canonical) if r is None else r)  # not cached: computed, cached, read (not written)
    missing = device_signals(None)
    append([missing[f] for f in DEVICE_FEATURES])
    base = np.array(rows, dtype=np.float64)
    base[:m, _TZ_POS] = np.nan  # the static rows hold NaN there (signals._row); the rows below fill it
    out = base.take(np.where(codes < 0, m, codes), axis=0)
    if ip_country is not None and m:  # as device_signal_matrix: the device's timezone country against the IP's
        tzs = [fp.canonical.values[_TZ_IDX] for fp in fps]
        tz_country = [None if tz is None else TIMEZONE_COUNTRY.get(tz) for tz in tzs]
        _signals.fill_tz_ip_mismatch(out[:, _TZ_POS], codes, ip_country, tz_country)  # a view: writes into ``out``
    return out


def link_rows(fps: np.ndarray, ts: np.ndarray, rows: np.ndarray, ip_prefix: np.ndarray | None,
              linker: DeviceLinker, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Link the fingerprints ``fps`` seen at ``rows`` (in that order) through ``linker``.

    Returns ``device_id`` (``None`` below :data:`MIN_LINK_CONFIDENCE` and on rows
    without a fingerprint) and ``device__link_confidence`` (NaN without one), over
    ``n`` rows. The one link loop of the batch path and of partitioned replays.
    """
    device_id = np.full(n, None, dtype=object)
    conf = np.full(n, np.nan)
    link = linker.link
    tsl = np.asarray(ts, dtype=np.int64).tolist()
    ips = ip_prefix.tolist() if ip_prefix is not None else [None] * n
    glue = load_core("linker")
    if glue is not None:
        # the loop below in one C call (fraudscore/_core/linker.c): each row through the compiled entry the linker
        # would call, or through linker.link; the same calls in the same order (parity-tested)
        ids, confs = glue.link_rows(linker, fps.tolist(), tsl, rows.tolist(), ips, MIN_LINK_CONFIDENCE)
        if len(ids):
            device_id[rows] = _objects(ids)
            conf[rows] = np.frombuffer(confs, dtype=np.float64)
        return device_id, conf
    for fp, i in zip(fps.tolist(), rows.tolist()):  # stateful: every row with a device, in input order
        res = link(fp, tsl[i], ips[i])
        c = float(res.link_confidence)
        device_id[i] = res.device_id if c >= MIN_LINK_CONFIDENCE else None
        conf[i] = c
    return device_id, conf


def _distinct_objects(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes per row (``-1`` for ``None`` / float NaN) and the distinct objects, by identity, in order of first
    appearance: ``codes[i] == firsts.index(values[i])`` up to identity.

    Sorts the objects' ids instead of a dict lookup per row.

    >>> a, b = {"os": "ios"}, {"os": "ios"}
    >>> codes, firsts = _distinct_objects([a, None, b, a, float("nan")])
    >>> codes.tolist(), firsts[0] is a, firsts[1] is b
    ([0, -1, 1, 0, -1], True, True)
    """
    n = len(values)
    codes = np.full(n, -1, dtype=np.int64)
    if not n:
        return codes, []
    core = load_core("columns")
    if core is not None:  # one pass with a table of the objects' addresses (fraudscore/_core/columns.c)
        raw, firsts = core.distinct_objects(values)
        return np.frombuffer(raw, dtype=np.int64), firsts
    ids = np.fromiter(map(id, values), dtype=np.uint64, count=n)  # the objects stay alive in values
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(s[1:], s[:-1], out=head[1:])
    group = np.cumsum(head) - 1  # per sorted position: its object's group
    first = order[head]  # the first row of each object (stable sort: the lowest)
    objs = [values[i] for i in first.tolist()]
    present = np.fromiter((not (d is None or (isinstance(d, float) and math.isnan(d))) for d in objs), dtype=bool,
                          count=len(objs))
    by_appearance = np.argsort(first, kind="stable")
    keep = by_appearance[present[by_appearance]]  # present objects, in order of first appearance
    rank = np.full(len(objs), -1, dtype=np.int64)
    rank[keep] = np.arange(len(keep), dtype=np.int64)
    codes[order] = rank[group]
    return codes, [objs[g] for g in keep.tolist()]


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array of ``values`` (never a 2-d array of strings' characters or tuples).

    ``np.fromiter`` copies the references; ``out[:] = values`` would first discover the list's shape and dtype
    element by element (2-6 ms against 1-1.5 ms per 100k values).

    >>> _objects([("a", 1), None]).shape
    (2,)
    """
    return np.fromiter(values, dtype=object, count=len(values))
