"""A :class:`FeatureSet` compiled for execution, shared by every path.

Specs are grouped by entity key; each group stores, per event, a few *slots*
(filter flags, fixed-point values, distinct-of values, application ids) from
which every spec of the group is answered. The final arithmetic (one division
at the end, on exact integers) lives here too, so that the reference, the
batch replay, the memory store and the Redis store produce the same bits.

Numbers are converted to **integer micro-units** (``round(x * 1e6)``, round
half to even); sums are exact integers, converted to float once.

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> plan = Plan(FeatureSet([FeatureSpec("mean", key="ip", field="amount", window="1h")]))
>>> len(plan.groups), plan.groups[0].slots
(1, [('val', 'amount', ()), ('valid', 'amount', ())])
>>> to_micro(12.5), finish("mean", (25_000_000, 2), 0)
(12500000, 12.5)
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._core import load as load_core
from ..errors import EventError
from .spec import DAY_MS, LABEL_AGGS, NUMERIC_AGGS, RATIO_AGGS, FeatureSet

__all__ = ["Plan", "Group", "Query", "to_micro", "finish", "MICRO", "MAX_ABS_VALUE", "check_event", "DAY_MS"]

MICRO = 1_000_000
MAX_ABS_VALUE = 1e12  # |x| above this is refused (micro-units stay far inside int64)
#: check_event's common case compiled (``_core.velocity_store.check_record``), or ``None``.
_CHECK = getattr(load_core("velocity_store"), "check_record", None)
NAN = float("nan")


def to_micro(x: Any) -> int | None:
    """Fixed-point micro-units of a numeric value; ``None`` for missing/NaN."""
    if x is None:
        return None
    xf = float(x)
    if xf != xf:
        return None
    return int(round(xf * MICRO))


def finish(agg: str, raw: tuple[Any, ...], t: int) -> float:
    """Turn a raw aggregate (exact integers) into the feature value.

    ``raw`` per aggregation: count ``(n,)``; sum ``(S,)``; mean ``(S, n_valid)``;
    min / max ``(m or None,)``; distinct ``(k,)``; first_seen_age / time_since_last
    ``(t_ref or None,)``; fraud_count ``(k,)``; fraud_rate ``(k, n)``; ratio_to_mean
    ``(x or None, S, n_valid)`` with ``x`` the current event's value: ``(x / 1e6) /
    mean`` with ``mean`` computed exactly as for ``mean``; NaN when ``x`` is
    missing or the mean is NaN or 0.

    Examples
    --------
    >>> finish("ratio_to_mean", (30_000_000, 20_000_000, 2), 0)
    3.0
    >>> finish("ratio_to_mean", (30_000_000, 0, 2), 0), finish("ratio_to_mean", (None, 5, 1), 0)
    (nan, nan)
    """
    if agg in ("count", "distinct", "fraud_count"):
        return float(raw[0])
    if agg == "sum":
        return float(raw[0]) / 1e6
    if agg == "mean":
        return NAN if raw[1] == 0 else float(raw[0]) / (float(raw[1]) * 1e6)
    if agg in ("min", "max"):
        return NAN if raw[0] is None else float(raw[0]) / 1e6
    if agg in ("first_seen_age", "time_since_last"):
        return NAN if raw[0] is None else float(t - raw[0]) / 1000.0
    if agg == "fraud_rate":
        return 0.0 if raw[1] == 0 else float(raw[0]) / float(raw[1])
    if agg == "ratio_to_mean":
        if raw[0] is None or raw[2] == 0 or raw[1] == 0:
            return NAN
        return (float(raw[0]) / 1e6) / (float(raw[1]) / (float(raw[2]) * 1e6))
    raise AssertionError(agg)


def _ceil_day(x: Any) -> Any:
    return -((-x) // DAY_MS) * DAY_MS


@dataclass
class Query:
    """One spec, compiled against its group's slots.

    The window of an event at time ``t`` holds the event times ``te`` with
    ``lower < te <= upper``, ``(lower, upper) = q.edges(t)``. For a duration
    window that is ``(t - lo, t - hi]`` (``hi`` = delay). Calendar windows
    (``cal_days`` > 0) and ``excl_day`` depend on the UTC day of ``r = t - hi``
    (``d0`` = its midnight): ``upper`` is ``r`` (or ``d0 - 1`` with ``excl_day``),
    ``lower`` is ``d0 - (cal_days - 1 + excl_day) days - 1``; for them ``lo`` is
    only an upper bound of ``t - lower`` (the horizon), used to bound reads.

    Examples
    --------
    >>> day = DAY_MS
    >>> q = Query(0, "n", "count", 2 * day, 0, False, None, None, cal_days=1, excl_day=True)
    >>> q.edges(10 * day + 5) == (9 * day - 1, 10 * day - 1)
    True
    >>> q.entry_time(9 * day) == 10 * day, q.exit_time(9 * day) == 11 * day
    (True, True)
    """

    out: int
    name: str
    agg: str
    lo: int | None  # window covers (t - lo, t - hi]; None = unbounded
    hi: int
    include_current: bool
    flag: int | None  # slot of the filter flag (None = no filter)
    slot: int | None  # value / valid-count / optional value / distinct / app slot
    slot2: int | None = None  # second slot (valid count for mean and ratio_to_mean)
    cal_days: int = 0  # calendar window of this many UTC days (0 = duration window)
    excl_day: bool = False  # exclude the (UTC) day of t - hi

    @property
    def calendar(self) -> bool:
        """Whether the window edges depend on the calendar day."""
        return bool(self.cal_days) or self.excl_day

    @property
    def edge_key(self) -> tuple[Any, ...]:
        """What determines the window edges (queries with equal keys share them)."""
        return (self.lo, self.hi, self.cal_days, self.excl_day)

    def edges(self, t: Any) -> tuple[Any, Any]:
        """``(lower, upper)`` window edges at time ``t`` (int or int64 array); ``lower`` None = unbounded."""
        if not self.cal_days and not self.excl_day:
            return (None if self.lo is None else t - self.lo), t - self.hi
        r = t - self.hi
        d0 = r - r % DAY_MS
        upper = d0 - 1 if self.excl_day else r
        if self.cal_days:
            lower = d0 - (self.cal_days - 1 + int(self.excl_day)) * DAY_MS - 1
        else:
            lower = None if self.lo is None else t - self.lo
        return lower, upper

    def entry_time(self, te: Any) -> Any:
        """Smallest ``t`` whose window upper edge reaches ``te`` (``upper(t) >= te``)."""
        if self.excl_day:
            return _ceil_day(te + 1) + self.hi
        return te + self.hi

    def exit_time(self, te: Any) -> Any:
        """Smallest ``t`` whose lower edge has passed ``te`` (``lower(t) >= te``); None = never."""
        if self.cal_days:
            return _ceil_day(te + 1 + (self.cal_days - 1 + int(self.excl_day)) * DAY_MS) + self.hi
        return None if self.lo is None else te + self.lo


@dataclass
class Group:
    """Specs sharing one entity key."""

    index: int
    key: tuple[str, ...]
    slots: list[tuple[Any, ...]] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    horizon: int | None = 0
    signature: str = ""

    def slot(self, desc: tuple[Any, ...]) -> int:
        if desc not in self.slots:
            self.slots.append(desc)
        return self.slots.index(desc)


def _passes(rec: Mapping[str, Any], filt: tuple[tuple[str, tuple[Any, ...]], ...]) -> bool:
    for f, vals in filt:
        v = rec.get(f)
        if v is None or not any(v == x for x in vals):
            return False
    return True


def check_event(rec: Any, fields_numeric: set[str], fields_key: set[str]) -> int:
    """Validate what velocity reads from a record; return ``ts``. Raises EventError."""
    if rec.__class__ is not dict and not isinstance(rec, Mapping):
        raise EventError("record", "must be a mapping", value=rec)
    ts = rec.get("ts")
    if ts is None:
        raise EventError("ts", "is required (int epoch milliseconds)")
    if ts.__class__ is not int and (isinstance(ts, bool) or not isinstance(ts, (int, np.integer))):
        raise EventError("ts", "must be int epoch milliseconds", value=ts)
    for f in fields_key:
        v = rec.get(f)
        if v is None or v.__class__ is str:  # the common cases first
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, np.integer)):
            raise EventError(f, "must be a string pseudonym or None", value=v)
    for f in fields_numeric:
        v = rec.get(f)
        if v is None:
            continue
        if v.__class__ is not float and (isinstance(v, bool)
                                         or not isinstance(v, (int, float, np.integer, np.floating))):
            raise EventError(f, "must be a number or None", value=v)
        fv = float(v)
        if fv == fv and not (-MAX_ABS_VALUE <= fv <= MAX_ABS_VALUE):
            raise EventError(f, f"must be finite and within +-{MAX_ABS_VALUE:g}", value=v)
    return int(ts)


class Plan:
    """Compiled :class:`FeatureSet`: groups by key, slots, queries.

    Parameters
    ----------
    fs : FeatureSet
    """

    def __init__(self, fs: FeatureSet) -> None:
        self.fs = fs
        self.n_features = len(fs.specs)
        self.lateness = fs.allowed_lateness_ms
        groups: dict[tuple[str, ...], Group] = {}
        self.numeric_fields: set[str] = set()
        self.key_fields: set[str] = set()
        for i, spec in enumerate(fs.specs):
            c = spec.check()
            g = groups.setdefault(c["key"], Group(len(groups), c["key"]))
            filt = c["filter"]
            flag = g.slot(("flag", filt)) if filt else None
            agg = c["agg"]
            slot = slot2 = None
            if agg in NUMERIC_AGGS or agg in RATIO_AGGS:
                self.numeric_fields.add(c["field"])
                if agg in ("sum", "mean", *RATIO_AGGS):
                    slot = g.slot(("val", c["field"], filt))
                    slot2 = g.slot(("valid", c["field"], filt)) if agg != "sum" else None
                else:
                    slot = g.slot(("opt", c["field"], filt))
            elif agg == "distinct":
                slot = g.slot(("dist", c["of"], filt))
                self.key_fields.add(c["of"])
            elif agg in LABEL_AGGS:
                slot = g.slot(("app", filt))
            self.key_fields |= set(c["key"])
            d = c["delay_ms"]
            h = spec.horizon_ms
            g.queries.append(Query(i, spec.name, agg, h, d, c["include_current"], flag, slot, slot2,
                                   c["calendar_days"], c["exclude_same_day"]))
            g.horizon = None if (h is None or g.horizon is None) else max(g.horizon, h)
        self.groups: list[Group] = list(groups.values())
        for g in self.groups:
            desc = json.dumps([list(g.key), [list(map(str, s)) for s in g.slots]], sort_keys=True)
            g.signature = hashlib.blake2b(desc.encode(), digest_size=6).hexdigest()
        self.has_labels = fs.has_labels
        self._numeric_tuple = tuple(map(sys.intern, sorted(self.numeric_fields)))  # for the compiled check_record
        self._key_tuple = tuple(map(sys.intern, sorted(self.key_fields)))  # (interned: pointer-equal dict keys)
        self.fingerprint = hashlib.blake2b(json.dumps(fs.to_dict(), sort_keys=True).encode(),
                                           digest_size=12).hexdigest()

    def entity(self, g: Group, rec: Mapping[str, Any]) -> Any:
        """Entity key value of the record for group ``g`` (``None`` if any part is missing)."""
        if len(g.key) == 1:
            return rec.get(g.key[0])
        parts = tuple(rec.get(k) for k in g.key)
        return None if any(p is None for p in parts) else parts

    def slot_values(self, g: Group, rec: Mapping[str, Any]) -> list[Any]:
        """The per-event slot values stored for group ``g``."""
        out: list[Any] = []
        flags: dict[Any, bool] = {}
        for desc in g.slots:
            kind, filt = desc[0], desc[-1]
            ok = flags.get(filt)
            if ok is None:
                ok = flags[filt] = _passes(rec, filt)
            if kind == "flag":
                out.append(1 if ok else 0)
            elif kind == "val":
                m = to_micro(rec.get(desc[1])) if ok else None
                out.append(0 if m is None else m)
            elif kind == "valid":
                out.append(1 if ok and to_micro(rec.get(desc[1])) is not None else 0)
            elif kind == "opt":
                out.append(to_micro(rec.get(desc[1])) if ok else None)
            elif kind == "dist":
                out.append(rec.get(desc[1]) if ok else None)
            else:  # app
                app = rec.get("application_id")
                out.append(("" if app is None else str(app)) if ok else None)
        return out

    def validate_record(self, rec: Any) -> int:
        """Validate a record for velocity; return its ``ts``."""
        if _CHECK is not None:  # the common case compiled (None: the reference decides, and raises)
            ts = _CHECK(rec, self._numeric_tuple, self._key_tuple, MAX_ABS_VALUE)
            if ts is not None:
                return ts  # type: ignore[no-any-return]
        return check_event(rec, self.numeric_fields, self.key_fields)

    def longest_horizon(self) -> int | None:
        """Longest group horizon (``None`` if any is all-time)."""
        hs = [g.horizon for g in self.groups]
        return None if any(h is None for h in hs) else max(hs)  # type: ignore[type-var]
