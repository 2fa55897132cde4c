"""Which events a store applies: the admission rule, shared by the online stores and the batch path.

Each event, in arrival order, gets one verdict:

1. **future** -- its time is more than ``max_clock_skew`` ahead of the scorer's
   clock (``ts > limit``): refused (:class:`~fraudscore.errors.EventError` on the
   time field); checked by the scorer before any state is read;
2. **duplicate** -- its ``application_id`` was applied before and the record is
   still live: it gets the recorded outcome and changes nothing. A record applied
   at ``t0`` is live for an event at ``t`` while ``t0 >= max(t, W) - ttl``, where
   ``W`` is the watermark below (events without an application id are never
   duplicates);
3. **late** -- its time is more than ``allowed_lateness`` behind the *watermark*
   ``W``, the latest event time this worker applied: refused;
4. **apply** -- otherwise: read, add, record; ``W = max(W, t)``.

Refused and duplicate events never move the watermark. The memory store applies
the rule event by event under its lock (with :class:`~fraudscore.velocity.memory.MemoryStore`'s
watermark and records), the Redis store per worker process (the watermark lives
in the worker; records in Redis), and :class:`Admission` gives the same verdicts
to a whole batch at once: vectorised when no application id repeats, row by row
otherwise.

Examples
--------
>>> adm = Admission(lateness_ms=10, ttl_ms=1_000)
>>> v, src = adm.judge(np.array([100, 95, 80, 200, 100, 150]),
...                    np.array(["A", "B", "C", "D", "A", "E"], dtype=object), limit=190)
>>> [VERDICTS[k] for k in v], src.tolist()
(['apply', 'apply', 'late', 'future', 'duplicate', 'apply'], [-1, -1, -1, -1, 0, -1])
>>> adm.watermark
150
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Admission", "APPLY", "FUTURE", "LATE", "DUPLICATE", "VERDICTS", "late_message", "future_message"]

APPLY, FUTURE, LATE, DUPLICATE = 0, 1, 2, 3
VERDICTS = ("apply", "future", "late", "duplicate")


def late_message(lateness_ms: int) -> str:
    """The refusal message of a late event (the same online and in batch).

    Examples
    --------
    >>> late_message(3_600_000)
    'is more than the allowed lateness (1h) older than the newest event already seen; send events in time order or raise allowed_lateness'
    """
    from ..timeutil import format_duration

    lateness = format_duration(lateness_ms) if lateness_ms else "0"
    return (f"is more than the allowed lateness ({lateness}) older than the newest event already seen; "
            "send events in time order or raise allowed_lateness")


def future_message(skew_ms: int) -> str:
    """The refusal message of an event too far ahead of the scorer's clock."""
    return f"is more than max_clock_skew ({skew_ms} ms) ahead of the scorer's clock"


def _app_key(a: Any) -> str | None:
    if a is None or (isinstance(a, float) and a != a):
        return None
    s = str(a)
    return s or None


class Admission:
    """Batch verdicts (see the module doc), with state carried from one call to the next.

    Parameters
    ----------
    lateness_ms : int
        The feature set's ``allowed_lateness``.
    ttl_ms : int
        The stores' ``idempotency_ttl``.
    watermark : int, optional
        The watermark to start from (``None``: no event applied yet).
    lookup : callable, optional
        ``lookup(application_id, ts, watermark)``: the live record of an id applied
        before this object existed (a store's ``recall``, for a warm start), or ``None``;
        found records are kept in :attr:`found`.

    Attributes
    ----------
    watermark : int or None
        The latest applied event time.
    recent : dict
        Application id -> ``(time, payload)`` of applied events whose records may
        still be live; ``payload`` is what the caller stored with :meth:`remember`
        (``None`` until then).
    """

    def __init__(self, lateness_ms: int, ttl_ms: int, watermark: int | None = None,
                 lookup: Callable[[str, int, int | None], Any] | None = None) -> None:
        self.lateness_ms = int(lateness_ms)
        self.ttl_ms = int(ttl_ms)
        self.watermark = watermark
        self.recent: dict[str, tuple[int, Any]] = {}
        self.lookup = lookup
        self.found: dict[str, Any] = {}

    def judge(self, ts: np.ndarray, app_ids: np.ndarray, limit: int | None = None, *,
              keep: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Verdicts (``int8``: :data:`APPLY`, :data:`FUTURE`, :data:`LATE`, :data:`DUPLICATE`) of rows in order.

        Returns ``(verdicts, src)``: for a duplicate, ``src`` is the position of the
        applied row it repeats in this call, or ``-1`` when that row came in an
        earlier call (its payload is in :attr:`recent`); ``-1`` for other rows.
        ``keep`` remembers this call's applied rows for later calls.
        """
        ts = np.asarray(ts, dtype=np.int64)
        n = ts.shape[0]
        verdict = np.zeros(n, dtype=np.int8)
        src = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return verdict, src
        keys = [_app_key(a) for a in np.asarray(app_ids, dtype=object).tolist()]
        present = [k for k in keys if k is not None]
        recent = self.recent
        repeats = len(set(present)) < len(present) or (recent and any(k in recent for k in present))
        if not repeats and self.lookup is None:
            self._vectorised(ts, limit, verdict)
        else:
            self._rows(ts, keys, limit, verdict, src)
        if keep:
            ok = np.flatnonzero(verdict == APPLY).tolist()
            tl = ts.tolist()
            for i in ok:
                k = keys[i]
                if k is not None:
                    recent[k] = (tl[i], None)
            self._prune()
        return verdict, src

    def _vectorised(self, ts: np.ndarray, limit: int | None, verdict: np.ndarray) -> None:
        future = ts > limit if limit is not None else np.zeros(ts.shape[0], dtype=bool)
        verdict[future] = FUTURE
        rest = np.flatnonzero(~future)
        if rest.size == 0:
            return
        t = ts[rest]
        prev = np.empty_like(t)
        prev[0] = t[0] if self.watermark is None else self.watermark
        if t.size > 1:
            np.maximum.accumulate(t[:-1], out=prev[1:])
            if self.watermark is not None:
                np.maximum(prev[1:], self.watermark, out=prev[1:])
        late = t < prev - self.lateness_ms
        verdict[rest[late]] = LATE
        applied = t[~late]
        if applied.size:
            m = int(applied.max())
            self.watermark = m if self.watermark is None else max(self.watermark, m)

    def _rows(self, ts: np.ndarray, keys: list[str | None], limit: int | None, verdict: np.ndarray,
              src: np.ndarray) -> None:
        recent, ttl, lateness = self.recent, self.ttl_ms, self.lateness_ms
        local: dict[str, tuple[int, int]] = {}
        w = self.watermark
        for i, t in enumerate(ts.tolist()):
            if limit is not None and t > limit:
                verdict[i] = FUTURE
                continue
            k = keys[i]
            if k is not None:
                horizon = (t if w is None or t > w else w) - ttl
                hit = local.get(k)
                if hit is not None and hit[0] >= horizon:
                    verdict[i] = DUPLICATE
                    src[i] = hit[1]
                    continue
                if hit is None:
                    old = recent.get(k)
                    if old is not None and old[0] >= horizon:
                        verdict[i] = DUPLICATE
                        continue
                    if old is None and self.lookup is not None:
                        rec = self.lookup(k, t, w)
                        if rec is not None:
                            self.found[k] = rec
                            verdict[i] = DUPLICATE
                            continue
            if w is not None and t < w - lateness:
                verdict[i] = LATE
                continue
            w = t if w is None or t > w else w
            if k is not None:
                local[k] = (t, i)
        self.watermark = w

    def remember(self, app_id: Any, payload: Any) -> None:
        """Attach ``payload`` (e.g. the row's velocity features and device link) to an applied id."""
        k = _app_key(app_id)
        if k is not None and k in self.recent:
            self.recent[k] = (self.recent[k][0], payload)

    def _prune(self) -> None:
        if self.watermark is None or len(self.recent) < 4096:
            return
        cutoff = self.watermark - self.ttl_ms
        self.recent = {k: v for k, v in self.recent.items() if v[0] >= cutoff}
