"""Exactly once per application id: what a store records about each applied event.

Every store applies an event at most once per ``application_id``. When an event
is applied, the store records its velocity features, its event time and the
device link it was scored with (an :class:`Applied`); an event whose application
id has a live record is a *duplicate*: the store returns the recorded result,
marked ``duplicate=True``, and changes nothing. A record lives
``idempotency_ttl`` (default :data:`DEFAULT_IDEMPOTENCY_TTL_MS`, 24 hours) of
*event time* after the event in the memory store and the batch path, of wall
clock time in Redis (where event time and wall clock agree within the clock-skew
bound during live scoring). Precisely, in event time: a record applied at
``t0`` is live for an event at ``t`` while ``t0 >= max(t, W) - ttl``, with ``W``
the store's watermark (see :mod:`~fraudscore.velocity.admission`). Events
without an application id are never duplicates.

:class:`ResultCache` is the memory store's record table: an LRU bounded in
entries whose records also expire by event time.

Examples
--------
>>> cache = ResultCache(ttl_ms=1_000, max_entries=2)
>>> cache.put("A1", Applied(np.array([1.0, 2.0]), False, ("d1", 1.0), ts=100))
>>> cache.get("A1", 500).features.tolist(), cache.get("A1", 500).link
([1.0, 2.0], ('d1', 1.0))
>>> cache.get("A1", 2_000) is None            # older than the TTL (event time)
True
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["Applied", "ResultCache", "DEFAULT_IDEMPOTENCY_TTL_MS", "DEFAULT_MAX_RESULTS", "check_ttl"]

#: How long an application id is remembered (24 h).
DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000
#: Most records the memory store keeps (least recently applied dropped first).
DEFAULT_MAX_RESULTS = 1_000_000

Link = tuple[str | None, float]
_F64 = np.dtype(np.float64)


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of applying one event to a store.

    Attributes
    ----------
    features : numpy.ndarray
        Velocity features as of the event (float64, aligned with the feature set).
    duplicate : bool
        The application id had already been applied: ``features`` and ``link`` are
        the recorded ones and no state changed.
    link : tuple of (str or None, float), optional
        The device link the event was scored with: ``(device_id, link_confidence)``.
    ts : int
        The event time (epoch ms) of the applied event (the first one, for a duplicate).
    """

    features: np.ndarray
    duplicate: bool = False
    link: Link | None = None
    ts: int = 0

    def as_duplicate(self) -> Applied:
        """The same record, marked as a duplicate."""
        return replace(self, duplicate=True)


def check_ttl(value: Any, owner: str) -> int:
    """Validate an ``idempotency_ttl`` (positive int milliseconds or a duration string)."""
    from ..timeutil import parse_duration

    try:
        ms = parse_duration(value)
    except (TypeError, ValueError):
        ms = None
    if ms is None or ms <= 0:
        raise ConfigError(f"The 'idempotency_ttl' parameter of {owner} must be a positive duration such as "
                          f"'24h'. Got {value!r} instead.")
    return int(ms)


def check_max_results(value: Any, owner: str) -> int:
    """Validate a ``max_results`` (how many applied-event records a store keeps): an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"The 'max_results' parameter of {owner} must be an integer >= 1. Got {value!r} instead.")
    return value


class ResultCache:
    """Records of applied events by application id (memory store).

    Parameters
    ----------
    ttl_ms : int
        A record is live for events at most this much later (event time) than it.
    max_entries : int
        Most records kept; the least recently applied are dropped first.
    """

    def __init__(self, ttl_ms: int = DEFAULT_IDEMPOTENCY_TTL_MS, max_entries: int = DEFAULT_MAX_RESULTS) -> None:
        self.ttl_ms = int(ttl_ms)
        self.max_entries = int(max_entries)
        self._d: OrderedDict[str, tuple[int, bytes, Link | None]] = OrderedDict()
        # the event time of the oldest record (the head of _d) while known, else None: put() skips its expiry
        # scan (an iterator over the OrderedDict, ~1k instructions) when the head is still live
        self._head_ts: int | None = None

    def __len__(self) -> int:
        return len(self._d)

    def get(self, application_id: str, ts: int, watermark: int | None = None) -> Applied | None:
        """The live record of ``application_id`` for an event at ``ts`` (marked duplicate), or ``None``."""
        if not application_id:
            return None
        rec = self._d.get(application_id)
        if rec is None or rec[0] < (ts if watermark is None or ts > watermark else watermark) - self.ttl_ms:
            return None
        return Applied(np.frombuffer(rec[1], dtype=np.float64).copy(), True, rec[2], rec[0])

    def put(self, application_id: str, applied: Applied, watermark: int | None = None) -> None:
        """Record an applied event (replacing an expired record of the same id); ``watermark`` after it."""
        if not application_id:
            return
        d = self._d
        f = applied.features
        raw = f.tobytes() if type(f) is np.ndarray and f.dtype is _F64 else np.asarray(f, dtype=np.float64).tobytes()
        n = len(d)
        d[application_id] = (int(applied.ts), raw, applied.link)
        if len(d) == n:  # a replaced record moves to the end (a new one is there already): the head may change
            d.move_to_end(application_id)
            self._head_ts = None
        while len(d) > self.max_entries:
            d.popitem(last=False)
            self._head_ts = None
        # records are (nearly) in event-time order: drop the expired head (get() decides exactly)
        cutoff = (applied.ts if watermark is None else watermark) - self.ttl_ms
        head = self._head_ts
        if head is not None and head >= cutoff:
            return  # the head (unchanged since it was read) is live: the scan below would stop at once
        self._head_ts = None
        while d:
            k = next(iter(d))
            ts = d[k][0]
            if ts >= cutoff:
                self._head_ts = ts
                break
            d.popitem(last=False)

    def to_raw(self) -> list[list[Any]]:
        """JSON-ready rows ``[application_id, ts, features, device_id, link_confidence]`` (snapshots)."""
        out = []
        for app, (ts, feats, link) in self._d.items():
            vals = [None if v != v else v for v in np.frombuffer(feats, dtype=np.float64).tolist()]
            out.append([app, ts, vals, None if link is None else link[0], None if link is None else link[1]])
        return out

    def load_raw(self, rows: list[list[Any]]) -> None:
        """Replace the records with rows from :meth:`to_raw` (already validated)."""
        self._d.clear()
        self._head_ts = None
        for app, ts, vals, did, conf in rows:
            feats = np.array([np.nan if v is None else v for v in vals], dtype=np.float64).tobytes()
            link = None if conf is None else (did, float(conf))
            self._d[app] = (int(ts), feats, link)
