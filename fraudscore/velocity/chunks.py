"""Velocity across chunks: replay a chunk after the rows it depends on, and keep those rows.

A batch scored in chunks (:mod:`fraudscore.rescore`, ``score_batch`` over a
stream) must give every row the features a single pass would: a row's windows
reach back into earlier chunks. :func:`replay_with_context` replays a chunk's
record columns after a *context* (the earlier rows still inside some window),
and :func:`chunk_context` builds the context the next chunk needs, trimmed to
the feature set's horizon plus the allowed lateness (all-time windows keep
every row).

Examples
--------
>>> import numpy as np
>>> from fraudscore.velocity import FeatureSet, FeatureSpec, replay
>>> fs = FeatureSet([FeatureSpec("count", key="phone", window="1h")])
>>> cols = {"ts": np.array([0, 1_000, 2_000], dtype=np.int64), "phone": np.array(["a", "a", "a"], dtype=object)}
>>> first = {k: v[:2] for k, v in cols.items()}
>>> ctx = chunk_context(fs, first, None)
>>> rest = replay_with_context(fs, {k: v[2:] for k, v in cols.items()}, 1, None, ctx)
>>> bool(np.array_equal(rest, replay(fs, cols)[2:]))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .replay import replay
from .spec import FeatureSet

__all__ = ["replay_with_context", "chunk_context", "concat_columns"]

_LABEL_FIELDS = ("is_fraud", "label_ts")


def concat_columns(a: np.ndarray | None, b: np.ndarray | None, n: int) -> np.ndarray:
    """Concatenate two column parts; a missing ``b`` is all-missing (None) of length ``n``.

    Examples
    --------
    >>> concat_columns(np.array([1, 2]), None, 2).tolist()
    [1, 2, None, None]
    """
    if a is None:
        a = np.empty(0, dtype=object)
    if b is None:
        b = np.full(n, None, dtype=object)
    if b.size == 0:
        return a.copy()
    if a.size == 0:
        return b.copy()
    if a.dtype.kind == b.dtype.kind:
        return np.concatenate([a, b])
    return np.concatenate([a.astype(object), b.astype(object)])


def _labels_or_default(labels: Mapping[str, np.ndarray] | None, n: int) -> dict[str, np.ndarray]:
    if labels is None:
        return {"is_fraud": np.full(n, np.nan), "label_ts": np.full(n, np.iinfo(np.int64).max, dtype=np.int64)}
    return {"is_fraud": np.asarray(labels["is_fraud"], dtype=np.float64),
            "label_ts": np.asarray(labels["label_ts"]).astype(np.int64)}


def replay_with_context(feature_set: FeatureSet, rec_cols: Mapping[str, np.ndarray], n: int,
                        labels: Mapping[str, np.ndarray] | None,
                        context: Mapping[str, Any] | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
    """Velocity features (n, k) of ``n`` rows, after replaying the ``context`` rows before them (none by default).

    With ``out`` (a float64 (n, k) array, e.g. a view of the batch's feature matrix) they are written there and
    ``out`` is returned."""
    if context is None or not len(context["columns"]["ts"]):
        return replay(feature_set, rec_cols, labels=labels, out=out)
    ctx_cols = context["columns"]
    cols = {k: concat_columns(ctx_cols[k], rec_cols.get(k), n) for k in ctx_cols}
    lab = None
    if labels is not None or context.get("labels") is not None:
        before = _labels_or_default(context.get("labels"), len(ctx_cols["ts"]))
        now = _labels_or_default(labels, n)
        lab = {k: concat_columns(before[k], now[k], n) for k in _LABEL_FIELDS}
    got = replay(feature_set, cols, labels=lab)[-n:] if n else np.empty((0, len(feature_set.names)))
    if out is not None:
        out[...] = got
        return out
    return got


def chunk_context(feature_set: FeatureSet, rec_cols: Mapping[str, np.ndarray],
                  labels: Mapping[str, np.ndarray] | None, previous: Mapping[str, Any] | None = None, *,
                  newest_ts: int | None = None) -> dict[str, Any]:
    """The rows later chunks still need: ``previous`` context plus these rows, trimmed to the horizon.

    A row can only matter to a later event at time ``t >= newest_ts - allowed_lateness``
    (earlier ones are rejected as late) through a window reaching back at most
    :attr:`FeatureSet.horizon_ms`; all-time windows keep every row.
    """
    tf = "ts"  # velocity's name of the event time (an alias of the schema's time field)
    names = (tf, *sorted(feature_set.fields))
    n = len(rec_cols[tf])
    if previous is None:
        previous = {"columns": {k: concat_columns(None, None, 0) if k != tf else np.empty(0, np.int64)
                                for k in names}, "labels": None}
    cols = {k: concat_columns(previous["columns"][k], rec_cols.get(k), n) for k in names}
    cols[tf] = cols[tf].astype(np.int64)
    lab = None
    if labels is not None or previous.get("labels") is not None:
        m = len(previous["columns"][tf])
        before, now = _labels_or_default(previous.get("labels"), m), _labels_or_default(labels, n)
        lab = {k: concat_columns(before[k], now[k], n) for k in _LABEL_FIELDS}
    horizon = feature_set.horizon_ms
    if horizon is not None and len(cols[tf]):
        newest = int(cols[tf].max()) if newest_ts is None else int(newest_ts)
        cutoff = newest - feature_set.allowed_lateness_ms - horizon - 1
        keep = cols[tf] >= cutoff
        if not keep.all():
            cols = {k: v[keep] for k, v in cols.items()}
            if lab is not None:
                lab = {k: v[keep] for k, v in lab.items()}
    return {"columns": cols, "labels": lab}
