"""Batch replay: every row's velocity features as of its own time, vectorised.

Per key group the rows are sorted by (entity, time, arrival); a composite int64
search key ``entity * M + (t - t0)`` lets one :func:`numpy.searchsorted` find
every window edge. Counts, sums and means come from int64 prefix sums; first /
last times from the (filtered) sorted positions; label-delayed numerators from a
difference array (each confirmed fraud adds +1 to the contiguous run of later
rows of its entity for which it lies in the delayed window *and* its label is
known); min / max / distinct from chunked range expansion (bounded memory).

Rows that have an *out-of-order predecessor* (an event of the same entity with
an earlier time that arrived later) are recomputed exactly by the same code the
online store uses; their number is bounded by the disorder of the input.

Examples
--------
>>> import numpy as np
>>> from fraudscore.velocity import FeatureSet, FeatureSpec
>>> fs = FeatureSet([FeatureSpec("count", key="ip", window="1h"),
...                  FeatureSpec("mean", key="ip", field="amount", window="1h")])
>>> cols = {"ts": np.array([0, 10, 20], dtype=np.int64),
...         "ip": np.array(["a", "a", None], dtype=object),
...         "amount": np.array([1.0, np.nan, 3.0])}
>>> replay(fs, cols).tolist()
[[1.0, 1.0], [2.0, 1.0], [nan, nan]]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .._core import load as load_core
from ..errors import ConfigError, EventError
from .online import answer
from .plan import MAX_ABS_VALUE, Group, Plan, Query
from .spec import FeatureSet

__all__ = ["replay", "late_mask"]

_MAX_PAIRS = 1 << 22
_BIG = np.int64(2**62)


def late_mask(fs: FeatureSet, ts: np.ndarray) -> np.ndarray:
    """Rows (in arrival order) more than ``allowed_lateness`` behind the latest earlier time.

    Examples
    --------
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec
    >>> fs = FeatureSet([FeatureSpec("count", key="ip", window="1h")], allowed_lateness=10)
    >>> late_mask(fs, np.array([100, 95, 80, 200, 189])).tolist()
    [False, False, True, False, True]
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(0, dtype=bool)
    prev = np.empty_like(ts)
    prev[0] = ts[0]
    np.maximum.accumulate(ts[:-1], out=prev[1:])
    return ts < prev - fs.allowed_lateness_ms


def _factorize(arr: np.ndarray) -> np.ndarray:
    """int64 codes (-1 for missing) of an object / numeric column, numbered in order of first appearance."""
    if arr.dtype.kind == "f":
        arr = arr.astype(object)
        arr[np.isnan(arr.astype(np.float64))] = None
    elif arr.dtype.kind == "O" and len(arr):
        core = load_core("columns")
        got = core.factorize(arr.tolist(), False, 0) if core is not None else None
        if got is not None:  # exact str, None and float NaN only: pandas' codes, without its hash table of objects
            return np.frombuffer(got[0], dtype=np.int64)  # (fraudscore/_core/columns.c)
    try:
        import pandas as pd

        codes, _ = pd.factorize(arr, use_na_sentinel=True)
        return codes.astype(np.int64)
    except ImportError:  # pragma: no cover - pandas is optional
        table: dict[Any, int] = {}
        return np.array([-1 if v is None else table.setdefault(v, len(table)) for v in arr], dtype=np.int64)


def _column(columns: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray | None:
    col = columns.get(name)
    if col is None:
        return None
    col = np.asarray(col)
    if len(col) != n:
        raise ConfigError(f"The 'columns' parameter of replay has column {name!r} of length {len(col)}; expected {n}.")
    return col


def _filter_mask(columns: Mapping[str, np.ndarray], filt: tuple[tuple[str, tuple[Any, ...]], ...], n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for f, vals in filt:
        col = _column(columns, f, n)
        if col is None:
            return np.zeros(n, dtype=bool)
        m = np.zeros(n, dtype=bool)
        for v in vals:
            m |= np.asarray(col == v, dtype=bool)
        mask &= m
    return mask


def _expand(lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Chunks of (first, last, owner, position) pairs covering ranges [lo, hi)."""
    lengths = np.maximum(hi - lo, 0)
    csum = np.cumsum(lengths)
    start, m = 0, len(lo)
    while start < m:
        base = csum[start - 1] if start else 0
        end = max(int(np.searchsorted(csum, base + _MAX_PAIRS, "right")), start + 1)
        ln = lengths[start:end]
        owner = np.repeat(np.arange(end - start), ln)
        offs = np.cumsum(ln) - ln
        pos = np.arange(int(ln.sum()), dtype=np.int64) - np.repeat(offs - lo[start:end], ln)
        yield start, end, owner, pos
        start = end


class _Sorted:
    """One key group's rows sorted by (entity, time, arrival)."""

    def __init__(self, code: np.ndarray, ts: np.ndarray) -> None:
        keyed = code >= 0
        t = ts[keyed]
        in_order = len(t) < 2 or bool(np.all(t[1:] >= t[:-1]))
        core = load_core("columns") if in_order else None
        got = None if core is None else core.group_rows(np.ascontiguousarray(code, dtype=np.int64))
        if got is not None:  # time-ordered input: the rows stably by entity in one counting sort (_core/columns.c)
            self.row = np.frombuffer(got, dtype=np.int64)
            self.code = code[self.row]
            self.ts = ts[self.row]
        else:
            rows = np.nonzero(keyed)[0]
            c = code[rows]
            if in_order:
                order = np.argsort(c, kind="stable")  # time-ordered input: a stable sort by entity suffices
            else:
                order = np.lexsort((t, c))  # stable: ties keep arrival order
            self.row = rows[order]
            self.code = c[order]
            self.ts = t[order]
        self.m = len(self.row)
        n = len(code)
        if self.m:
            t0, span = int(ts.min()), int(ts.max() - ts.min())
        else:
            t0, span = 0, 0
        self.t0, self.span, self.M = t0, span, span + 2
        if self.m and (int(self.code.max()) + 1) * self.M >= 2**62:
            raise ConfigError("replay: too many entities times too long a time span for the int64 search key")
        self.K = self.code * self.M + (self.ts - t0)
        self.pos = np.arange(self.m, dtype=np.int64)
        self._bounds: dict[tuple[int | None, int], tuple[np.ndarray, np.ndarray]] = {}
        self._prefix: dict[int | None, np.ndarray] = {}
        edges = np.flatnonzero(self.code[1:] != self.code[:-1]) + 1
        starts = np.r_[0, edges].astype(np.int64)
        ends = np.r_[edges, self.m].astype(np.int64)
        self.ent_start = np.repeat(starts, ends - starts)
        self.ent_end = np.repeat(ends, ends - starts)
        self.dirty = np.zeros(self.m, dtype=bool)
        if self.m > 1 and not in_order:  # an earlier sorted position of the entity arrived later
            k2 = self.code * n + self.row
            cm = np.maximum.accumulate(k2)
            self.dirty[1:] = cm[:-1] > k2[1:]

    def search(self, times: np.ndarray, side: str, codes: np.ndarray | None = None) -> np.ndarray:
        code = self.code if codes is None else codes
        q = code * self.M + np.clip(times - self.t0, -1, self.span + 1)
        return np.searchsorted(self.K, q, side)  # type: ignore[call-overload]

    def bounds(self, q: Query) -> tuple[np.ndarray, np.ndarray]:
        """Sorted-position range [lo, hi) of each row's window (earlier arrivals only, for clean rows)."""
        key = q.edge_key
        if key not in self._bounds:
            lower, upper = q.edges(self.ts)
            exact_hi = q.hi == 0 and not q.excl_day  # upper edge = t: earlier arrivals = earlier positions
            hi = self.pos if exact_hi else self.search(upper, "right")
            lo = self.ent_start if lower is None else self.search(lower, "right")
            self._bounds[key] = (lo if exact_hi else np.minimum(lo, hi), hi)
        return self._bounds[key]

    def prefix(self, slot: int | None, w: np.ndarray) -> np.ndarray:
        """Cached int64 prefix sums of a slot's weights."""
        if slot not in self._prefix:
            self._prefix[slot] = _prefix(w)
        return self._prefix[slot]


def _prefix(w: np.ndarray) -> np.ndarray:
    out = np.zeros(len(w) + 1, dtype=np.int64)
    np.cumsum(w, out=out[1:])
    return out


def _range_reduce(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, fn: np.ufunc, empty: np.int64) -> np.ndarray:
    out = np.full(len(lo), empty, dtype=np.int64)
    for a, b, owner, pos in _expand(lo, hi):
        ln = np.maximum(hi[a:b] - lo[a:b], 0)
        nz = np.nonzero(ln)[0]
        if len(nz):
            offs = (np.cumsum(ln) - ln)[nz]
            out[a + nz] = fn.reduceat(values[pos], offs)
    return out


def _range_distinct(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per row ``i``: the number of distinct values ``>= 0`` among ``codes[lo[i]:hi[i]]`` and ``cur[i]``.

    With the compiled core one pass with a stamp per code (``_core/columns.c`` ``range_distinct``); the
    reference below expands the ranges into (row, code) pairs in bounded chunks and counts the distinct pairs.

    >>> _range_distinct(np.array([3, 1, 3, -1, 2]), np.array([0, 1, 4]), np.array([3, 1, 5]), np.array([1, 0, 2])).tolist()
    [2, 1, 1]
    """
    core = load_core("columns") if len(lo) else None
    if core is not None:
        i64 = np.int64
        got = core.range_distinct(np.ascontiguousarray(codes, dtype=i64), np.ascontiguousarray(lo, dtype=i64),
                                  np.ascontiguousarray(hi, dtype=i64), np.ascontiguousarray(cur, dtype=i64))
        if got is not None:  # None: a range outside the codes, which the reference reports
            return np.frombuffer(got, dtype=np.int64)
    return _range_distinct_reference(codes, lo, hi, cur)


def _range_distinct_reference(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """:func:`_range_distinct` in numpy (the reference of the compiled kernel)."""
    nd = int(codes.max()) + 2 if len(codes) else 2
    out = np.zeros(len(lo), dtype=np.int64)
    for a, b, owner, pos in _expand(lo, hi):
        d = codes[pos]
        extra = np.nonzero(cur[a:b] >= 0)[0]
        own = np.concatenate([owner, extra])
        d = np.concatenate([d, cur[a:b][extra]])
        keep = d >= 0
        uniq = _distinct_sorted(own[keep] * nd + d[keep])
        out[a:b] = np.bincount(uniq // nd, minlength=b - a)
    return out


def _distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` for int64 keys, by sorting: numpy 2's hash-based ``unique`` is 40-60x slower on
    these composite (owner, code) keys (7.4 s against 0.12 s for 4M keys), which made the replay superlinear.

    >>> _distinct_sorted(np.array([5, 1, 5, 3, 1], dtype=np.int64)).tolist()
    [1, 3, 5]
    """
    s = np.sort(keys)
    if s.size < 2:
        return s
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return s[first]


def replay(fs: FeatureSet, columns: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray] | None = None, *,
           out: np.ndarray | None = None) -> np.ndarray:
    """Velocity features of every row as of its own time (rows in arrival order).

    Parameters
    ----------
    fs : FeatureSet
    columns : dict of str to ndarray
        ``ts`` (int64 ms) and the fields in ``fs.fields`` (keys as object arrays with
        ``None``, numbers as float64 with NaN). An absent column counts as all missing.
    labels : dict, optional
        ``is_fraud`` (float64 1 / 0 / NaN) and ``label_ts`` (int64 ms) aligned with the
        rows; a fraud counts for a row at time ``t`` when ``label_ts <= t``.
    out : ndarray, optional
        A float64 array of shape (n, len(fs.names)) (e.g. the velocity columns of a batch's feature matrix, a
        strided view) to write the features into, instead of a new C-contiguous array.

    Returns
    -------
    ndarray of shape (n, len(fs.names)), float64
        ``out`` when given.

    Raises
    ------
    EventError
        On a late row (remove them with :func:`late_mask` first) or a non-finite /
        out-of-range number, naming the row.
    """
    plan = Plan(fs)
    if "ts" not in columns:
        raise ConfigError("The 'columns' parameter of replay must hold a 'ts' column (int64 ms).")
    ts = np.asarray(columns["ts"])
    if ts.dtype.kind not in "iu":
        raise ConfigError(f"The 'columns' parameter of replay needs 'ts' as int64 milliseconds. Got dtype {ts.dtype} instead.")
    ts = ts.astype(np.int64)
    n = len(ts)
    if out is not None and (out.shape != (n, len(fs.names)) or out.dtype != np.float64):
        raise ConfigError(f"The 'out' parameter of replay must be a float64 array of shape {(n, len(fs.names))}. "
                          f"Got {out.dtype} {out.shape} instead.")
    if n == 0:  # an empty batch (or one whose rows were all rejected)
        return np.empty((0, len(fs.names)), dtype=np.float64) if out is None else out
    late = late_mask(fs, ts)
    if late.any():
        raise EventError("ts", "is more than allowed_lateness behind the latest event time (filter with late_mask)",
                         row=int(np.argmax(late)))
    X = np.full((n, plan.n_features), np.nan, order="F")  # column writes stay local
    fraud_lt = None
    if plan.has_labels and labels is not None:
        isf = np.asarray(labels["is_fraud"], dtype=np.float64)
        lts = np.asarray(labels["label_ts"]).astype(np.int64)
        if len(isf) != n or len(lts) != n:
            raise ConfigError("The 'labels' parameter of replay must be aligned with the rows.")
        fraud_lt = np.where(isf == 1.0, lts, _BIG)  # label time of confirmed frauds, BIG = never
    micro: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for f in plan.numeric_fields:
        col = _column(columns, f, n)
        x = np.full(n, np.nan) if col is None else col.astype(np.float64)
        valid = ~np.isnan(x)
        bad = valid & ~(np.abs(x) <= MAX_ABS_VALUE)
        if bad.any():
            raise EventError(f, f"must be finite and within +-{MAX_ABS_VALUE:g}", row=int(np.argmax(bad)))
        micro[f] = (np.where(valid, np.rint(np.where(valid, x, 0.0) * 1e6), 0).astype(np.int64), valid)
    codes_cache: dict[str, np.ndarray] = {}

    def codes_of(f: str) -> np.ndarray:
        if f not in codes_cache:
            col = _column(columns, f, n)
            codes_cache[f] = np.full(n, -1, dtype=np.int64) if col is None else _factorize(col)
        return codes_cache[f]

    for g in plan.groups:
        code = codes_of(g.key[0])
        for k in g.key[1:]:
            c2 = codes_of(k)
            both = (code >= 0) & (c2 >= 0)
            code = np.where(both, _factorize(np.where(both, code * (int(c2.max()) + 1) + c2, -1)), -1)
            code = np.where(both, code, -1)
        S = _Sorted(code, ts)
        if S.m == 0:
            continue
        slots = _slot_arrays(g, S, columns, micro, codes_of, n)
        for q in g.queries:
            X[S.row, q.out] = _query(q, S, slots, fraud_lt)
        dirty = np.nonzero(S.dirty)[0]
        if len(dirty):
            _fallback(g, S, slots, fraud_lt, dirty, X)
    if out is not None:  # one transposing copy into the caller's matrix (no C-contiguous copy in between)
        out[...] = X
        return out
    return np.ascontiguousarray(X)


def _slot_arrays(g: Group, S: _Sorted, columns: Mapping[str, np.ndarray], micro: dict[str, tuple[np.ndarray, np.ndarray]],
                 codes_of: Any, n: int) -> list[np.ndarray]:
    """Per-slot values in sorted order (ints; -1 / sentinel for None)."""
    out: list[np.ndarray] = []
    masks: dict[Any, np.ndarray] = {}
    for desc in g.slots:
        kind, filt = desc[0], desc[-1]
        if filt not in masks:
            masks[filt] = _filter_mask(columns, filt, n)[S.row] if filt else np.ones(S.m, dtype=bool)
        ok = masks[filt]
        if kind == "flag":
            out.append(ok.astype(np.int64))
        elif kind in ("val", "valid", "opt"):
            val, valid = micro[desc[1]]
            v, okv = val[S.row], valid[S.row] & ok
            if kind == "val":
                out.append(np.where(okv, v, 0))
            elif kind == "valid":
                out.append(okv.astype(np.int64))
            else:
                out.append(np.where(okv, v, _BIG))  # BIG marks "no value"
        elif kind == "dist":
            out.append(np.where(ok, codes_of(desc[1])[S.row], -1))
        else:  # app: the row index stands for the application id
            out.append(np.where(ok, S.row, -1))
    return out


def _query(q: Query, S: _Sorted, slots: list[np.ndarray], fraud_lt: np.ndarray | None) -> np.ndarray:
    lo, hi = S.bounds(q)
    flag = np.ones(S.m, dtype=np.int64) if q.flag is None else slots[q.flag]
    inc = (flag == 1) if q.include_current else np.zeros(S.m, dtype=bool)
    agg = q.agg
    if agg in ("count", "fraud_count", "fraud_rate"):
        C = S.prefix(q.flag, flag) if q.flag is not None else None
        n_ = (hi - lo) if C is None else (C[hi] - C[lo])
        if agg == "count":
            return (n_ + inc).astype(np.float64)
        if agg == "fraud_count" and fraud_lt is None:
            return np.zeros(S.m)
        k = _fraud_known(q, S, slots, fraud_lt)
        if agg == "fraud_count":
            return k.astype(np.float64)
        return np.where(n_ == 0, 0.0, k.astype(np.float64) / np.maximum(n_, 1).astype(np.float64))
    if agg in ("sum", "mean", "ratio_to_mean"):
        v = slots[q.slot]  # type: ignore[index]
        P = S.prefix(q.slot, v)
        s = P[hi] - P[lo] + np.where(inc, v, 0)
        if agg == "sum":
            return s.astype(np.float64) / 1e6
        c = slots[q.slot2]  # type: ignore[index]
        V = S.prefix(q.slot2, c)
        nv = V[hi] - V[lo] + np.where(inc, c, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s.astype(np.float64) / (nv.astype(np.float64) * 1e6)
            if agg == "mean":
                return np.where(nv == 0, np.nan, mean)
            # ratio_to_mean: the event's own (filtered) value over the window mean, as plan.finish
            ratio = (v.astype(np.float64) / 1e6) / mean
            return np.where((c == 0) | (nv == 0) | (s == 0), np.nan, ratio)
    if agg in ("min", "max"):
        v = slots[q.slot]  # type: ignore[index]
        if agg == "min":
            r = _range_reduce(v, lo, hi, np.minimum, _BIG)
            r = np.where(inc & (v != _BIG), np.minimum(r, v), r)
        else:
            vm = np.where(v == _BIG, -_BIG, v)
            r = _range_reduce(vm, lo, hi, np.maximum, -_BIG)
            r = np.where(inc & (v != _BIG), np.maximum(r, vm), r)
            r = np.where(r == -_BIG, _BIG, r)
        return np.where(r == _BIG, np.nan, r.astype(np.float64) / 1e6)
    if agg == "distinct":
        d = slots[q.slot]  # type: ignore[index]
        return _range_distinct(d, lo, hi, np.where(inc, d, -1)).astype(np.float64)
    # first_seen_age / time_since_last over the (filtered) positions
    F = S.pos if q.flag is None else np.nonzero(flag)[0]
    lo_f, hi_f = np.searchsorted(F, lo), np.searchsorted(F, hi)
    has = hi_f > lo_f
    if agg == "first_seen_age":
        ref = np.where(has, S.ts[F[np.minimum(lo_f, len(F) - 1)]] if len(F) else 0, 0)
        ref = np.where(~has & inc, S.ts, ref)
        has = has | inc
    else:
        ref = np.where(has, S.ts[F[np.maximum(hi_f - 1, 0)]] if len(F) else 0, 0)
        ref = np.where(inc, S.ts, ref)
        has = has | inc
    return np.where(has, (S.ts - ref).astype(np.float64) / 1000.0, np.nan)


def _fraud_known(q: Query, S: _Sorted, slots: list[np.ndarray], fraud_lt: np.ndarray | None) -> np.ndarray:
    """Per sorted row: confirmed frauds in its delayed window whose label is known."""
    out = np.zeros(S.m, dtype=np.int64)
    if fraud_lt is None:
        return out
    app = slots[q.slot]  # type: ignore[index]
    lt = np.where(app >= 0, fraud_lt[S.row], _BIG)
    j = np.nonzero(lt != _BIG)[0]
    if not len(j):
        return out
    tj, code = S.ts[j], S.code[j]
    first = np.maximum(q.entry_time(tj), lt[j])
    start = np.maximum(j + 1, S.search(first, "left", code))
    exit_t = q.exit_time(tj)
    end = S.ent_end[j] if exit_t is None else S.search(exit_t, "left", code)
    ok = end > start
    diff = np.bincount(start[ok], minlength=S.m + 1) - np.bincount(end[ok], minlength=S.m + 1)
    return np.cumsum(diff[: S.m]).astype(np.int64)


def _fallback(g: Group, S: _Sorted, slots: list[np.ndarray], fraud_lt: np.ndarray | None, dirty: np.ndarray,
              X: np.ndarray) -> None:
    """Exact per-row recomputation for rows with an out-of-order predecessor."""
    labels: dict[int, int] = {}
    if fraud_lt is not None:
        labels = {int(r): int(fraud_lt[r]) for r in np.nonzero(fraud_lt != _BIG)[0]}
    py_slots = []
    for desc, arr in zip(g.slots, slots):
        kind = desc[0]
        if kind == "opt":
            py_slots.append([None if v == _BIG else int(v) for v in arr.tolist()])
        elif kind in ("dist", "app"):
            py_slots.append([None if v < 0 else int(v) for v in arr.tolist()])
        else:
            py_slots.append(arr.tolist())
    ts_l = S.ts.tolist()
    rows_l = S.row.tolist()
    for p in dirty.tolist():
        es, ee = int(S.ent_start[p]), int(S.ent_end[p])
        r = rows_l[p]
        keep = [i for i in range(es, ee) if rows_l[i] < r]
        ts = [ts_l[i] for i in keep]
        cols = [[col[i] for i in keep] for col in py_slots]
        cur = [col[p] for col in py_slots]
        for q in g.queries:
            X[r, q.out] = answer(q, ts, cols, ts_l[p], cur, labels)
