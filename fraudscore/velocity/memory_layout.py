"""Per-entity state layout of the memory store, compiled once per key group.

An entity's state is one list ``[ts, col_0, col_1, ...]`` (just ``ts`` when the
group stores no slot), with ``ts`` the time-sorted event times. Slots that are
only ever *summed* (filter flags, fixed-point values, valid counts) are kept as
**prefix sums** with a leading base element (``P[i1] - P[i0]`` is the sum over
events ``[i0, i1)``), so count, sum, mean and filtered first / last times cost
O(log n) (one or two bisections) whatever the entity's size; dropping expired
events from the front keeps the differences valid. Other slots (optional values
for min / max, distinct-of values, application ids) are plain lists scanned over
the window. Python integers keep every sum exact, so the answers are
bit-identical to :func:`~fraudscore.velocity.online.answer` and the batch replay.

Most entities are seen once within their horizon (an applicant, a phone, a
card), so an entity with a single event is stored *compactly*: the bare event
time (an ``int``) for a group without slots, else one tuple ``(t, slot values...)``
of atomic values, which the garbage collector stops tracking. It becomes the
list form on its second event. Few container objects per entity keep the
collector's work, and so the tail latency, low.

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> from fraudscore.velocity.plan import Plan
>>> plan = Plan(FeatureSet([FeatureSpec("sum", key="ip", field="amount", window="1h")]))
>>> lay = GroupLayout(plan.groups[0])
>>> out = [0.0]
>>> cur = lay.extract({"ip": "p", "amount": 2.5})
>>> lay.read_new(cur, out)
>>> ent = lay.single(0, cur)
>>> out, ent
([2.5], (0, 2500000))
>>> ent = lay.expand(ent)
>>> cur = lay.extract({"ip": "p", "amount": 1.0})
>>> lay.read(ent, 1000, cur, out, {})
>>> lay.insert(ent, 1000, cur)
>>> out, lay.to_raw(ent)
([3.5], ([0, 1000], [[2500000, 1000000]]))
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

from .plan import Group, _passes, finish, to_micro

__all__ = ["GroupLayout"]

NAN = float("nan")
# aggregation codes
_COUNT, _SUM, _MEAN, _MIN, _MAX, _DISTINCT, _FIRST, _LAST, _FCOUNT, _FRATE, _RATIO = range(11)
_CODES = {"count": _COUNT, "sum": _SUM, "mean": _MEAN, "min": _MIN, "max": _MAX, "distinct": _DISTINCT,
          "first_seen_age": _FIRST, "time_since_last": _LAST, "fraud_count": _FCOUNT, "fraud_rate": _FRATE,
          "ratio_to_mean": _RATIO}
# slot kinds
_FLAG, _VAL, _VALID, _OPT, _DIST, _APP = range(6)
_KINDS = {"flag": _FLAG, "val": _VAL, "valid": _VALID, "opt": _OPT, "dist": _DIST, "app": _APP}
_PREFIX = (_FLAG, _VAL, _VALID)


class GroupLayout:
    """How one key group's entities are stored, read and updated (see the module doc).

    Parameters
    ----------
    g : Group
        A group of a compiled :class:`~fraudscore.velocity.plan.Plan`.
    """

    def __init__(self, g: Group) -> None:
        self.group = g
        self.key = g.key
        self.single_key = g.key[0] if len(g.key) == 1 else None
        self.n_slots = len(g.slots)
        self.bare = self.n_slots == 0  # the state is the ts list itself
        kinds = [_KINDS[s[0]] for s in g.slots]
        self.prefix = tuple(k in _PREFIX for k in kinds)
        self.prefix_idx = tuple(j for j, p in enumerate(self.prefix) if p)
        self.raw_idx = tuple(j for j, p in enumerate(self.prefix) if not p)
        filts: list[Any] = []
        ex = []
        for s, k in zip(g.slots, kinds):
            filt = s[-1]
            fi = -1
            if filt:
                if filt not in filts:
                    filts.append(filt)
                fi = filts.index(filt)
            ex.append((k, s[1] if k not in (_FLAG, _APP) else None, fi))
        self._filters = tuple(filts)
        self._ex = tuple(ex)
        pairs: list[Any] = []
        edge_keys: list[tuple[Any, ...]] = []
        qs = []
        for q in g.queries:
            if q.edge_key not in edge_keys:
                edge_keys.append(q.edge_key)
                # duration windows: (lo, hi) offsets; calendar ones: the query computes its edges
                pairs.append(q if q.calendar else (q.lo, q.hi))
            # column index in the state list is slot + 1
            qs.append((q.out, _CODES[q.agg], edge_keys.index(q.edge_key), q.include_current,
                       -1 if q.flag is None else q.flag, -1 if q.slot is None else q.slot,
                       -1 if q.slot2 is None else q.slot2))
        self._pairs = tuple(pairs)
        self._queries = tuple(qs)

    # -- per event -----------------------------------------------------------------------------
    def entity(self, rec: Mapping[str, Any]) -> Any:
        """The record's entity key (``None`` when any key field is missing)."""
        if self.single_key is not None:
            return rec.get(self.single_key)
        parts = tuple(rec.get(k) for k in self.key)
        return None if None in parts else parts

    def extract(self, rec: Mapping[str, Any]) -> list[Any]:
        """The event's slot values (as :meth:`Plan.slot_values`)."""
        oks = [_passes(rec, f) for f in self._filters] if self._filters else None
        out: list[Any] = []
        for kind, field, fi in self._ex:
            ok = True if fi < 0 else oks[fi]  # type: ignore[index]
            if kind == _DIST:
                out.append(rec.get(field) if ok else None)  # type: ignore[arg-type]
            elif kind == _APP:
                if ok:
                    app = rec.get("application_id")
                    out.append("" if app is None else str(app))
                else:
                    out.append(None)
            elif kind == _FLAG:
                out.append(1 if ok else 0)
            else:
                m = to_micro(rec.get(field)) if ok else None  # type: ignore[arg-type]
                if kind == _VAL:
                    out.append(0 if m is None else m)
                elif kind == _VALID:
                    out.append(0 if m is None else 1)
                else:
                    out.append(m)
        return out

    def new(self) -> Any:
        """An empty entity state (list form)."""
        if self.bare:
            return []
        return [[], *([0] if p else [] for p in self.prefix)]

    def single(self, t: int, cur: list[Any]) -> Any:
        """The compact state of an entity holding one event."""
        return t if self.bare else (t, *cur)

    def expand(self, ent: Any) -> Any:
        """The list form of a state (a compact one is converted; a list is returned as is)."""
        if ent.__class__ is list:
            return ent
        if self.bare:
            return [ent]
        return [[ent[0]], *([0, v] if p else [v] for p, v in zip(self.prefix, ent[1:]))]

    def read_new(self, cur: list[Any], out: list[float]) -> None:
        """:meth:`read` for an entity without stored events (its first event): only ``cur`` counts."""
        for o, code, _b, include, flag, slot, slot2 in self._queries:
            inc = include and (flag < 0 or cur[flag] == 1)
            if code == _COUNT:
                out[o] = 1.0 if inc else 0.0
            elif code == _DISTINCT:
                out[o] = 1.0 if inc and cur[slot] is not None else 0.0
            elif code == _FIRST or code == _LAST:
                out[o] = 0.0 if inc else NAN
            elif code == _SUM:
                out[o] = float(cur[slot]) / 1e6 if inc else 0.0
            elif code == _FCOUNT or code == _FRATE:
                out[o] = 0.0
            elif code == _MEAN:
                out[o] = float(cur[slot]) / (float(cur[slot2]) * 1e6) if inc and cur[slot2] else NAN
            elif code == _RATIO:
                out[o] = finish("ratio_to_mean", (cur[slot] if cur[slot2] else None, cur[slot] if inc else 0,
                                                  cur[slot2] if inc else 0), 0)
            else:  # min / max
                out[o] = float(cur[slot]) / 1e6 if inc and cur[slot] is not None else NAN

    def read(self, ent: Any, t: int, cur: list[Any], out: list[float], labels: Mapping[Any, int]) -> None:
        """Write every query's value as of time ``t`` (the current event ``cur`` not yet added) into ``out``."""
        ts = ent if self.bare else ent[0]
        n = len(ts)
        in_order = n == 0 or ts[-1] <= t
        bounds = []
        for pair in self._pairs:
            if n == 0:
                bounds.append((0, 0))
                continue
            if pair.__class__ is not tuple:  # a calendar window: edges from the event's day
                lower, upper = pair.edges(t)
                i1 = bisect_right(ts, upper)
                i0 = 0 if lower is None or i1 == 0 else bisect_right(ts, lower, 0, i1)
                bounds.append((i0, i1))
                continue
            lo, hi = pair
            if hi == 0 and in_order:
                i1 = n
            else:
                i1 = bisect_right(ts, t - hi)
            if lo is None or i1 == 0:
                i0 = 0
            else:
                edge = t - lo
                i0 = 0 if ts[0] > edge else bisect_right(ts, edge, 0, i1)
            bounds.append((i0, i1))
        for o, code, b, include, flag, slot, slot2 in self._queries:
            i0, i1 = bounds[b]
            inc = include and (flag < 0 or cur[flag] == 1)
            if code == _COUNT:
                if flag < 0:
                    out[o] = float(i1 - i0 + inc)
                else:
                    F = ent[flag + 1]
                    out[o] = float(F[i1] - F[i0] + inc)
            elif code == _SUM:
                V = ent[slot + 1]
                s = V[i1] - V[i0]
                if inc:
                    s += cur[slot]
                out[o] = float(s) / 1e6
            elif code == _MEAN or code == _RATIO:
                V = ent[slot + 1]
                C = ent[slot2 + 1]
                s = V[i1] - V[i0]
                nv = C[i1] - C[i0]
                if inc:
                    s += cur[slot]
                    nv += cur[slot2]
                if code == _MEAN:
                    out[o] = NAN if nv == 0 else float(s) / (float(nv) * 1e6)
                else:
                    out[o] = finish("ratio_to_mean", (cur[slot] if cur[slot2] else None, s, nv), t)
            elif code == _DISTINCT:
                if i1 > i0:
                    seen = set(ent[slot + 1][i0:i1])
                    if inc:
                        seen.add(cur[slot])
                    seen.discard(None)
                    out[o] = float(len(seen))
                else:
                    out[o] = 1.0 if inc and cur[slot] is not None else 0.0
            elif code == _FIRST or code == _LAST:
                ref = None
                if i1 > i0:
                    if flag < 0:
                        ref = ts[i0] if code == _FIRST else ts[i1 - 1]
                    else:
                        F = ent[flag + 1]
                        base = F[i0]
                        if F[i1] != base:
                            if code == _FIRST:
                                ref = ts[bisect_right(F, base, i0, i1 + 1) - 1]
                            else:
                                ref = ts[bisect_left(F, F[i1], i0, i1 + 1) - 1]
                if inc and (ref is None or code == _LAST):
                    ref = t
                out[o] = NAN if ref is None else float(t - ref) / 1000.0
            elif code == _MIN or code == _MAX:
                vals = [v for v in ent[slot + 1][i0:i1] if v is not None]
                if inc and cur[slot] is not None:
                    vals.append(cur[slot])
                if vals:
                    out[o] = float(min(vals) if code == _MIN else max(vals)) / 1e6
                else:
                    out[o] = NAN
            else:  # label-delayed: fraud_count / fraud_rate
                den = k = 0
                for a in ent[slot + 1][i0:i1]:
                    if a is not None:
                        den += 1
                        lt = labels.get(a)
                        if lt is not None and lt <= t:
                            k += 1
                if code == _FCOUNT:
                    out[o] = float(k)
                else:
                    out[o] = 0.0 if den == 0 else float(k) / float(den)

    def insert(self, ent: Any, t: int, cur: list[Any]) -> None:
        """Add the event (after stored events of equal time: arrival order among ties)."""
        if self.bare:
            if not ent or t >= ent[-1]:
                ent.append(t)
            else:
                ent.insert(bisect_right(ent, t), t)
            return
        ts = ent[0]
        if not ts or t >= ts[-1]:
            ts.append(t)
            for j, p in enumerate(self.prefix):
                c = ent[j + 1]
                c.append(c[-1] + cur[j] if p else cur[j])
            return
        pos = bisect_right(ts, t)
        ts.insert(pos, t)
        for j, p in enumerate(self.prefix):
            c = ent[j + 1]
            v = cur[j]
            if not p:
                c.insert(pos, v)
                continue
            c.insert(pos + 1, c[pos] + v)
            if v:
                for i in range(pos + 2, len(c)):
                    c[i] += v

    def trim(self, ent: Any, cutoff: int) -> None:
        """Drop events at or before ``cutoff`` (they can never enter a window again)."""
        ts = ent if self.bare else ent[0]
        if not ts or ts[0] > cutoff:
            return
        k = bisect_right(ts, cutoff)
        if self.bare:
            del ent[:k]
            return
        for c in ent:
            del c[:k]  # a prefix column keeps its (new) base element

    # -- conversions (snapshots) ---------------------------------------------------------------
    def size(self, ent: Any) -> int:
        """Number of stored events."""
        if ent.__class__ is not list:
            return 1
        return len(ent if self.bare else ent[0])

    def latest(self, ent: Any) -> int | None:
        """Latest stored event time (``None`` when empty)."""
        if ent.__class__ is not list:
            return ent if self.bare else ent[0]
        ts = ent if self.bare else ent[0]
        return ts[-1] if ts else None

    def to_raw(self, ent: Any) -> tuple[list[int], list[list[Any]]]:
        """``(ts, per-slot value columns)`` as :meth:`Plan.slot_values` gives them."""
        if ent.__class__ is not list:
            return ([ent], []) if self.bare else ([ent[0]], [[v] for v in ent[1:]])
        if self.bare:
            return list(ent), []
        cols = []
        for j, p in enumerate(self.prefix):
            c = ent[j + 1]
            cols.append([c[i + 1] - c[i] for i in range(len(c) - 1)] if p else list(c))
        return list(ent[0]), cols

    def from_raw(self, ts: list[int], cols: list[list[Any]]) -> Any:
        """Inverse of :meth:`to_raw` (a single event gives the compact form)."""
        if len(ts) == 1:
            return self.single(ts[0], [c[0] for c in cols])
        if self.bare:
            return list(ts)
        ent: list[Any] = [list(ts)]
        for j, p in enumerate(self.prefix):
            if p:
                acc = [0]
                for v in cols[j]:
                    acc.append(acc[-1] + v)
                ent.append(acc)
            else:
                ent.append(list(cols[j]))
        return ent
