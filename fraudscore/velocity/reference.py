"""A deliberately naive plain-Python oracle for velocity features (tests only).

For each event it scans every earlier event: O(n^2). It shares only the spec
parsing and the final arithmetic (:func:`~fraudscore.velocity.plan.finish`,
:func:`~fraudscore.velocity.plan.to_micro`) with the real paths.

Examples
--------
>>> from fraudscore.velocity import FeatureSet, FeatureSpec
>>> fs = FeatureSet([FeatureSpec("count", key="ip", window="1h")])
>>> reference(fs, [{"ts": 0, "ip": "a"}, {"ts": 10, "ip": "a"}, {"ts": 20, "ip": None}]).tolist()
[[1.0], [2.0], [nan]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .plan import finish, to_micro
from .spec import FeatureSet

__all__ = ["reference"]


def _key(rec: Mapping[str, Any], key: tuple[str, ...]) -> Any:
    parts = tuple(rec.get(k) for k in key)
    return None if any(p is None for p in parts) else parts


def _in_window(c: Mapping[str, Any], te: int, t: int) -> bool:
    """Whether an event at ``te`` lies in the window of an event at ``t`` (plain day arithmetic)."""
    w, d, n_cal, excl = c["window_ms"], c["delay_ms"], c["calendar_days"], c["exclude_same_day"]
    r = t - d
    if te > r:
        return False
    day_e, day_r = te // 86_400_000, r // 86_400_000
    if excl and day_e == day_r:
        return False
    if n_cal:  # the n_cal days ending with r's day (the n_cal days before it with excl)
        return day_r - day_e < n_cal + int(excl)
    return w is None or te > r - w


def _match(rec: Mapping[str, Any], filt: tuple[tuple[str, tuple[Any, ...]], ...]) -> bool:
    return all(rec.get(f) is not None and any(rec.get(f) == v for v in vals) for f, vals in filt)


def reference(fs: FeatureSet, records: Sequence[Mapping[str, Any]],
              labels: Sequence[tuple[bool, int] | None] | None = None) -> np.ndarray:
    """Features of every record, in arrival (list) order, by brute force.

    Parameters
    ----------
    fs : FeatureSet
    records : sequence of mappings
        Each with ``ts`` and the fields; assumed free of late events.
    labels : sequence of (is_fraud, label_ts) or None, aligned with ``records``
    """
    n = len(records)
    out = np.full((n, len(fs.specs)), np.nan)
    for i, rec in enumerate(records):
        t = rec["ts"]
        for s_i, spec in enumerate(fs.specs):
            c = spec.check()
            k = _key(rec, c["key"])
            if k is None:
                continue
            members = []
            for j in range(i + 1):
                if j == i and not c["include_current"]:
                    continue
                other = records[j]
                tj = other["ts"]
                if _key(other, c["key"]) != k or not _match(other, c["filter"]):
                    continue
                if not _in_window(c, tj, t):
                    continue
                members.append(j)
            agg = c["agg"]
            if agg == "count":
                raw: tuple[Any, ...] = (len(members),)
            elif agg == "ratio_to_mean":
                vals = [to_micro(records[j].get(c["field"])) for j in members]
                vals = [v for v in vals if v is not None]
                x = to_micro(rec.get(c["field"])) if _match(rec, c["filter"]) else None
                raw = (x, sum(vals), len(vals))
            elif agg in ("sum", "mean", "min", "max"):
                vals = [to_micro(records[j].get(c["field"])) for j in members]
                vals = [v for v in vals if v is not None]
                if agg == "sum":
                    raw = (sum(vals),)
                elif agg == "mean":
                    raw = (sum(vals), len(vals))
                else:
                    raw = ((min(vals) if agg == "min" else max(vals)) if vals else None,)
            elif agg == "distinct":
                raw = (len({records[j].get(c["of"]) for j in members} - {None}),)
            elif agg == "first_seen_age":
                raw = (min((records[j]["ts"] for j in members), default=None),)
            elif agg == "time_since_last":
                raw = (max((records[j]["ts"] for j in members), default=None),)
            else:
                known = 0
                for j in members:
                    lab = labels[j] if labels is not None else None
                    if lab is not None and lab[0] and lab[1] <= t:
                        known += 1
                raw = (known, len(members))
            out[i, s_i] = finish(agg, raw, t)
    return out
