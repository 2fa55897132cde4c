"""Hash partitioning for the partitioned replay: which bucket each row goes to, and the row pieces.

Everything here is pure NumPy and deterministic across processes (``xxhash`` of
the value's text, never Python's salted ``hash``), so every worker sends a
given entity to the same bucket.

Examples
--------
>>> import numpy as np
>>> b = bucket_of([np.array(["p:a", "p:b", None, "p:a"], dtype=object)], 4)
>>> int(b[0]) == int(b[3]), int(b[2])
(True, -1)
>>> piece = {"idx": np.arange(4), "v": np.array([10, 11, 12, 13])}
>>> [p["v"].tolist() for p in split(piece, np.array([1, 0, -1, 1]), 2)]
[[11], [10, 13]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xxhash

__all__ = ["bucket_of", "key_hashes", "key_load", "split", "concat_pieces", "processing_order", "value_hashes",
           "assign"]

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _text(v: Any) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return f"b:{v}"
    if isinstance(v, (int, float)):
        return f"n:{float(v)!r}"  # 1 and 1.0 are one entity in the replay (they compare equal)
    return f"s:{v}"


def value_hashes(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash, present mask) of every value of a key column; missing = ``None`` / NaN.

    Each distinct value is hashed once.
    """
    col = np.asarray(col)
    n = len(col)
    if col.dtype.kind == "f":
        present = ~np.isnan(col)
        obj = col.astype(object)
    else:
        obj = col if col.dtype.kind == "O" else col.astype(object)
        present = np.fromiter((v is not None and not (isinstance(v, float) and v != v) for v in obj.tolist()),
                              dtype=bool, count=n)
    out = np.zeros(n, dtype=np.uint64)
    if not present.any():
        return out, present
    vals = obj[present]
    try:
        import pandas as pd

        codes, uniques = pd.factorize(vals)
        uh = np.array([xxhash.xxh3_64_intdigest(_text(u).encode()) for u in uniques.tolist()]
                      + [0], dtype=np.uint64)
        out[present] = uh[codes]
    except ImportError:  # pragma: no cover - pandas is installed with the dask extra
        out[present] = np.array([xxhash.xxh3_64_intdigest(_text(u).encode()) for u in vals.tolist()],
                                dtype=np.uint64)
    return out, present


def bucket_of(key_columns: Sequence[np.ndarray], buckets: int) -> np.ndarray:
    """Bucket (``0 .. buckets-1``) of each row's composite key; ``-1`` where any part is missing."""
    h, present = key_hashes(key_columns)
    b = (h % np.uint64(buckets)).astype(np.int64)
    b[~present] = -1
    return b


def key_hashes(key_columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash, present mask) of each row's composite key (:func:`bucket_of` is the hash modulo buckets)."""
    h: np.ndarray | None = None
    present: np.ndarray | None = None
    for col in key_columns:
        hv, pv = value_hashes(col)
        if h is None:
            h, present = hv, pv
        else:
            with np.errstate(over="ignore"):
                h = (h * _MIX) ^ hv
            present = present & pv
    assert h is not None and present is not None
    return h, present


def key_load(h: np.ndarray, bucket: np.ndarray, buckets: int) -> np.ndarray:
    """Sum over each bucket's keys of the squared number of rows per key (rows with bucket ``-1`` left out).

    A velocity replay costs more than its rows where one entity's windows hold many
    rows; this is the part of a bucket's cost that grows with them.

    Examples
    --------
    >>> key_load(np.array([7, 7, 7, 9], dtype=np.uint64), np.array([1, 1, 1, 0]), 2).tolist()
    [1.0, 9.0]
    """
    keep = bucket >= 0
    if not keep.any():
        return np.zeros(buckets)
    u, first, counts = np.unique(h[keep], return_index=True, return_counts=True)
    return np.bincount(bucket[keep][first], weights=counts.astype(np.float64) ** 2, minlength=buckets)


def split(piece: Mapping[str, np.ndarray], bucket: np.ndarray, buckets: int) -> list[dict[str, np.ndarray]]:
    """Cut the row arrays of ``piece`` by ``bucket`` (rows with ``-1`` are dropped), keeping row order."""
    order = np.argsort(bucket, kind="stable")
    b = bucket[order]
    cuts = np.searchsorted(b, np.arange(buckets + 1))
    out = []
    for k in range(buckets):
        sel = order[cuts[k] : cuts[k + 1]]
        out.append({name: arr[sel] for name, arr in piece.items()})
    return out


def concat_pieces(pieces: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate pieces with the same names (object columns stay object)."""
    pieces = [p for p in pieces if p]
    if not pieces:
        return {}
    out = {}
    for name in pieces[0]:
        arrs = [p[name] for p in pieces]
        if len({a.dtype.kind for a in arrs}) > 1:
            arrs = [a.astype(object) for a in arrs]
        out[name] = np.concatenate(arrs) if len(arrs) > 1 else arrs[0]
    return out


def processing_order(ts: np.ndarray, row: np.ndarray, by_time: bool) -> np.ndarray:
    """The order in which a single process handles these rows: by (time, input row) or by input row.

    Examples
    --------
    >>> processing_order(np.array([5, 3, 5]), np.array([0, 1, 2]), True).tolist()
    [1, 0, 2]
    """
    if by_time:
        return np.lexsort((row, ts))
    return np.argsort(row, kind="stable")


def assign(weights: Sequence[float], capacities: Sequence[float]) -> np.ndarray:
    """Bin of each item: largest first, each to the bin that finishes it soonest (LPT scheduling).

    ``weights`` are the items' costs (rows), ``capacities`` the bins' speeds
    (threads of each worker). The result depends on the inputs only (ties go to the
    lower item, then the lower bin), so every call with the same sizes gives the
    same placement. The busiest bin holds at most 4/3 of the optimum (Graham, 1969)
    and never more than the optimum plus the largest item.

    Examples
    --------
    >>> assign([5, 1, 4, 2, 3, 3], [1, 1]).tolist()  # 9 and 9
    [0, 0, 1, 1, 1, 0]
    >>> assign([4, 4, 4], [2, 1]).tolist()  # a two-thread worker takes two of three
    [0, 0, 1]
    """
    w = np.asarray(weights, dtype=np.float64)
    cap = np.asarray(capacities, dtype=np.float64)
    if cap.size == 0 or (cap <= 0).any():
        raise ValueError(f"capacities must be positive, got {cap.tolist()}")
    out = np.zeros(len(w), dtype=np.int64)
    load = np.zeros(len(cap))
    for i in np.lexsort((np.arange(len(w)), -w)).tolist():
        b = int(np.argmin((load + w[i]) / cap))
        out[i] = b
        load[b] += w[i]
    return out
