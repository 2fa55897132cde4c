"""Online velocity: ``update_and_read`` one event at a time against a store.

:class:`OnlineVelocity` validates the record *before* any state change, then
hands it to the store (:class:`~fraudscore.velocity.memory.MemoryStore` by
default, or :class:`~fraudscore.velocity.redis_store.RedisStore`), which applies
each ``application_id`` once (a repeat gets the recorded features back, see
:mod:`~fraudscore.velocity.idempotency`), checks the allowed lateness against
its own watermark, reads every window as of the event and adds the event.

:func:`answer` computes one spec over an entity's time-sorted columns; the
memory store and the batch replay's out-of-order fallback both use it.

Examples
--------
>>> from fraudscore.velocity import FeatureSet, FeatureSpec
>>> fs = FeatureSet([FeatureSpec("count", key="device_id", window="24h"),
...                  FeatureSpec("fraud_count", key="device_id", window="30d", delay="1h")])
>>> online = OnlineVelocity(fs)
>>> online.update_and_read({"application_id": "A1", "ts": 0, "device_id": "d1"}).tolist()
[1.0, 0.0]
>>> online.record_label("A1", True, 1_000)
>>> online.update_and_read({"application_id": "A2", "ts": 3_600_000, "device_id": "d1"}).tolist()
[2.0, 1.0]
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ..errors import EventError
from .idempotency import Applied, Link
from .plan import Plan, Query, finish
from .spec import FeatureSet

__all__ = ["OnlineVelocity", "VelocityStore", "answer", "window_bounds"]


class VelocityStore(Protocol):
    """What :class:`OnlineVelocity` needs from a store."""

    def bind(self, plan: Plan) -> None: ...

    def update_and_read(self, plan: Plan, record: Mapping[str, Any], ts: int) -> np.ndarray: ...

    def apply(self, plan: Plan, record: Mapping[str, Any], ts: int | None = None,
              link: Link | None = None) -> Applied: ...

    def record_label(self, plan: Plan, application_id: str, is_fraud: bool, label_time_ms: int) -> None: ...


def window_bounds(q: Query, ts: list[int], t: int) -> tuple[int, int]:
    """Index range ``[i0, i1)`` of ``ts`` (sorted) with time in the window ``q.edges(t)``."""
    lower, upper = q.edges(t)
    i1 = bisect_right(ts, upper)
    i0 = 0 if lower is None else bisect_right(ts, lower, 0, i1)
    return i0, i1


def answer(q: Query, ts: list[int], cols: list[list[Any]], t: int, cur: list[Any] | None,
           labels: Mapping[Any, int], bounds: tuple[int, int] | None = None) -> float:
    """Feature value of query ``q`` over earlier events (sorted columns) plus ``cur``.

    ``cur`` holds the current event's slot values when it is to be included.
    ``labels`` maps application id to the label time of a confirmed fraud.
    ``bounds`` may pass precomputed :func:`window_bounds`.
    """
    i0, i1 = window_bounds(q, ts, t) if bounds is None else bounds
    agg = q.agg
    inc = cur is not None and q.include_current and (q.flag is None or cur[q.flag] == 1)
    flags = None if q.flag is None else cols[q.flag]
    if agg == "count":
        n = (i1 - i0) if flags is None else sum(flags[i0:i1])
        return float(n + inc)
    if agg == "sum" or agg == "mean" or agg == "ratio_to_mean":
        s = sum(cols[q.slot][i0:i1]) + (cur[q.slot] if inc else 0)  # type: ignore[index]
        if agg == "sum":
            return finish("sum", (s,), t)
        nv = sum(cols[q.slot2][i0:i1]) + (cur[q.slot2] if inc else 0)  # type: ignore[index]
        if agg == "mean":
            return finish("mean", (s, nv), t)
        x = cur[q.slot] if cur is not None and cur[q.slot2] else None  # type: ignore[index]
        return finish(agg, (x, s, nv), t)
    if agg == "min" or agg == "max":
        vals = [v for v in cols[q.slot][i0:i1] if v is not None]  # type: ignore[index]
        if inc and cur[q.slot] is not None:  # type: ignore[index]
            vals.append(cur[q.slot])  # type: ignore[index]
        return finish(agg, ((min(vals) if agg == "min" else max(vals)) if vals else None,), t)
    if agg == "distinct":
        seen = set(cols[q.slot][i0:i1])  # type: ignore[index]
        if inc:
            seen.add(cur[q.slot])  # type: ignore[index]
        seen.discard(None)
        return float(len(seen))
    if agg == "first_seen_age" or agg == "time_since_last":
        ref = None
        if flags is None:
            if i1 > i0:
                ref = ts[i0] if agg == "first_seen_age" else ts[i1 - 1]
        else:
            rng = range(i0, i1) if agg == "first_seen_age" else range(i1 - 1, i0 - 1, -1)
            ref = next((ts[i] for i in rng if flags[i]), None)
        if inc and (ref is None or agg == "time_since_last"):
            ref = t
        return finish(agg, (ref,), t)
    # label-delayed: fraud_count / fraud_rate
    apps = cols[q.slot][i0:i1]  # type: ignore[index]
    den = 0
    k = 0
    for a in apps:
        if a is not None:
            den += 1
            lt = labels.get(a)
            if lt is not None and lt <= t:
                k += 1
    return finish(agg, (k, den), t)


class OnlineVelocity:
    """Update-and-read velocity features, one event at a time.

    Parameters
    ----------
    fs : FeatureSet
        The features to compute.
    store : MemoryStore or RedisStore, optional
        Where the state lives; a new :class:`MemoryStore` by default.

    Examples
    --------
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec
    >>> online = OnlineVelocity(FeatureSet([FeatureSpec("sum", key="ip", field="amount", window="1h")]))
    >>> [float(online.update_and_read({"application_id": a, "ts": t, "ip": "p:1", "amount": x})[0])
    ...  for a, t, x in [("A", 0, 10.0), ("B", 1000, None), ("C", 2000, 2.5)]]
    [10.0, 10.0, 12.5]
    >>> online.update_and_read({"application_id": "D", "ip": "p:1"})
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: field 'ts': is required (int epoch milliseconds)
    """

    def __init__(self, fs: FeatureSet, store: VelocityStore | None = None) -> None:
        from .memory import MemoryStore

        self.fs = fs
        self.plan = Plan(fs)
        self.store: VelocityStore = MemoryStore() if store is None else store
        self.store.bind(self.plan)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, aligned with the vectors returned."""
        return self.fs.names

    def update_and_read(self, record: Mapping[str, Any]) -> np.ndarray:
        """Return the features as of this event (float64, aligned with ``fs.names``) and add it.

        Raises
        ------
        EventError
            For a malformed record, or an event later than ``allowed_lateness``
            (field ``ts``); the state is left unchanged.
        StoreError
            When the store fails.
        """
        ts = self.plan.validate_record(record)
        return self.store.update_and_read(self.plan, record, ts)

    def apply(self, record: Mapping[str, Any], link: Link | None = None) -> Applied:
        """Like :meth:`update_and_read`, with the duplicate flag: each ``application_id`` counts once.

        ``link`` (``(device_id, link_confidence)``) is recorded with the outcome.

        Examples
        --------
        >>> from fraudscore.velocity import FeatureSet, FeatureSpec
        >>> online = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="1h")]))
        >>> a = online.apply({"application_id": "A", "ts": 0, "ip": "p:1"})
        >>> b = online.apply({"application_id": "A", "ts": 0, "ip": "p:1"})   # a retry
        >>> a.features.tolist(), b.features.tolist(), b.duplicate
        ([1.0], [1.0], True)
        """
        ts = self.plan.validate_record(record)
        return self.store.apply(self.plan, record, ts, link)

    def record_label(self, application_id: str, is_fraud: bool, label_time_ms: int) -> None:
        """Feed back a fraud label; it counts for events at time ``>= label_time_ms``.

        Only the latest label of an application counts; ``is_fraud=False`` clears it.
        """
        if application_id is None or isinstance(application_id, bool):
            raise EventError("application_id", "is required", value=application_id)
        if isinstance(label_time_ms, bool) or not isinstance(label_time_ms, (int, np.integer)):
            raise EventError("label_time", "must be int epoch milliseconds", value=label_time_ms)
        self.store.record_label(self.plan, str(application_id), bool(is_fraud), int(label_time_ms))
