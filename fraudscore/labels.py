"""Fraud labels: one strict reading of ``is_fraud``, ``application_id`` and the label time.

A label says whether an application turned out to be fraud, and when that
became known. The same rules apply to :meth:`Scorer.record_label
<fraudscore.scorer.Scorer.record_label>` (one label) and to label tables
(:class:`LabelIndex`, used by ``score_batch``, :func:`fraudscore.train`, rescoring
and rule backtests):

* ``is_fraud``: a boolean, the integers ``0`` / ``1`` (floats ``0.0`` / ``1.0``
  too), or one of the strings in :data:`TRUE_STRINGS` / :data:`FALSE_STRINGS`
  (case and surrounding spaces ignored). Anything else -- ``"maybe"``, ``2``,
  ``NaN``, ``None`` -- is an :class:`~fraudscore.errors.EventError`: a label is
  never guessed.
* ``application_id``: a non-empty string (stripped) or an integer, exactly as
  the schema's id field reads it in an event; ``None`` or ``""`` is an error.
* the label time: any timestamp form :func:`fraudscore.timeutil.to_epoch_ms`
  accepts (``label_ts`` columns in epoch milliseconds).

Errors name the field (and the row of a table), never the value.

Examples
--------
>>> parse_is_fraud("No"), parse_is_fraud(1), parse_is_fraud(True)
(False, True, True)
>>> parse_is_fraud(float("nan"))
Traceback (most recent call last):
...
fraudscore.errors.EventError: field 'is_fraud': must be a boolean, 0/1, or one of 'true', 'yes', 'fraud', '1', 'false', 'no', 'legit', '0' (got float)
>>> parse_application_id(None)
Traceback (most recent call last):
...
fraudscore.errors.EventError: field 'application_id': is required
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import EventError
from .limits import MAX_STR_LEN
from .timeutil import TS_MAX_MS, to_epoch_ms

__all__ = ["TRUE_STRINGS", "FALSE_STRINGS", "parse_is_fraud", "parse_application_id", "parse_label_time",
           "LabelIndex", "labels_for_rows"]

TRUE_STRINGS: tuple[str, ...] = ("true", "yes", "fraud", "1")
"""Strings read as ``is_fraud=True`` (case-insensitive, stripped)."""
FALSE_STRINGS: tuple[str, ...] = ("false", "no", "legit", "0")
"""Strings read as ``is_fraud=False`` (case-insensitive, stripped)."""
_STRINGS = {**dict.fromkeys(TRUE_STRINGS, True), **dict.fromkeys(FALSE_STRINGS, False)}
_LABEL_PROBLEM = "must be a boolean, 0/1, or one of " + ", ".join(repr(s) for s in (*TRUE_STRINGS, *FALSE_STRINGS))


def parse_is_fraud(value: Any, *, row: int | None = None) -> bool:
    """Read one ``is_fraud`` value strictly (see the module docstring)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        if value == 0 or value == 1:
            return bool(value)
    elif isinstance(value, (float, np.floating)):
        if value == 0.0 or value == 1.0:
            return bool(value)
    elif isinstance(value, str) and len(value) <= 16:
        hit = _STRINGS.get(value.strip().lower())
        if hit is not None:
            return hit
    raise EventError("is_fraud", _LABEL_PROBLEM, value=value, row=row)


def parse_application_id(value: Any, *, field: str = "application_id", row: int | None = None) -> str:
    """Read one application id as an event's id field is read: a non-empty stripped string or an integer."""
    if isinstance(value, str):
        s = value.strip()
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if int(value).bit_length() > 4 * MAX_STR_LEN:
            raise EventError(field, f"must be at most {MAX_STR_LEN} characters", value=value, row=row)
        s = str(int(value))
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        raise EventError(field, "is required", row=row)
    else:
        raise EventError(field, "must be a string", value=value, row=row)
    if not s:
        raise EventError(field, "is required and must not be empty", row=row)
    if len(s) > MAX_STR_LEN:
        raise EventError(field, f"must be at most {MAX_STR_LEN} characters", value=value, row=row)
    if "\x00" in s or (not s.isascii() and not _encodable(s)):
        raise EventError(field, "must be valid Unicode text without NUL characters", value=value, row=row)
    return s


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_label_time(value: Any, *, field: str = "label_time", row: int | None = None) -> int:
    """A label time in epoch milliseconds, or EventError naming ``field``."""
    try:
        return to_epoch_ms(value)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        problem = str(exc) if isinstance(exc, (TypeError, ValueError)) else "must be between 1971-01-01 and 2199-12-31"
        raise EventError(field, problem, value=value, row=row) from None


def _as_column(col: Any) -> np.ndarray:
    """``col`` as a one-dimensional array; ragged or nested cells become an object column, so each bad cell is
    reported by the row checks (numpy's own shape error names no field).

    Examples
    --------
    >>> _as_column([0, 1]).dtype.kind, _as_column([None, []]).shape
    ('i', (2,))
    """
    try:
        arr = np.asarray(col)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.ndim != 1:
        cells = list(col)
        arr = np.empty(len(cells), dtype=object)
        for i, v in enumerate(cells):
            arr[i] = v
    return arr


def _fraud_column(col: Any) -> np.ndarray:
    arr = _as_column(col)
    if arr.dtype.kind == "b":
        return arr.astype(np.float64)
    if arr.dtype.kind in "iuf":
        vals = arr.astype(np.float64)
        bad = ~((vals == 0.0) | (vals == 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            parse_is_fraud(arr[i].item(), row=i)  # raises, naming the first bad row
        return vals
    out = np.empty(len(arr), dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        out[i] = 1.0 if parse_is_fraud(v, row=i) else 0.0
    return out


def _ts_column(col: Any) -> np.ndarray:
    """``label_ts``: integer epoch milliseconds (0 up to the latest accepted date), whole floats accepted."""
    arr = _as_column(col)
    problem = "must be integer epoch milliseconds between 1970-01-01 and 2199-12-31"
    if arr.dtype.kind in "iu":
        vals = arr.astype(np.int64)
        bad = (vals < 0) | (vals > TS_MAX_MS)
        if bad.any():
            raise EventError("label_ts", problem, row=int(np.flatnonzero(bad)[0]))
        return vals
    out = np.empty(len(arr), dtype=np.int64)
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= TS_MAX_MS:
            raise EventError("label_ts", problem, value=v, row=i)
        out[i] = v
    return out


class LabelIndex:
    """A labels table, checked and indexed once by application id, for aligning it with batch rows.

    ``labels`` holds the id column (``id_field``: the schema's id field, e.g.
    ``application_id``; a column named ``application_id`` is accepted too),
    ``is_fraud`` and ``label_time`` (any timestamp form; ``label_ts`` in epoch
    ms is accepted too) as a mapping of columns or a DataFrame. The label time
    may be left out when no feature is label-delayed (``require_time=False``):
    such labels only ever serve as training targets. Every value is read by the
    rules of the module docstring; the first bad one raises
    :class:`~fraudscore.errors.EventError` naming its column and row (a training
    table with a bad label is not silently repaired). When an id repeats, its
    last row counts. :meth:`align` gives rows without a label ``is_fraud = NaN``
    and a label time that never arrives.

    Examples
    --------
    >>> idx = LabelIndex({"application_id": ["A", "B"], "is_fraud": [1, "no"], "label_ts": [5, 7]})
    >>> out = idx.align(np.array(["B", "C"], dtype=object))
    >>> out["is_fraud"].tolist(), int(out["label_ts"][0])
    ([0.0, nan], 7)
    >>> LabelIndex({"order": ["A"], "is_fraud": [1]}, id_field="order", require_time=False).align(["A"])["is_fraud"]
    array([1.])
    >>> LabelIndex({"order": ["A"], "is_fraud": [1]}, id_field="order")
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: field 'label_time': is a required column of the labels table (label-delayed features use it; or give label_ts in epoch ms)
    >>> LabelIndex({"application_id": ["A"], "is_fraud": ["maybe"], "label_ts": [5]})
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: row 0: field 'is_fraud': must be a boolean, 0/1, or one of 'true', 'yes', 'fraud', '1', 'false', 'no', 'legit', '0' (got str)
    """

    def __init__(self, labels: Any, *, id_field: str = "application_id", require_time: bool = True) -> None:
        if hasattr(labels, "to_dict") and hasattr(labels, "columns"):
            labels = {c: labels[c].to_numpy() for c in labels.columns}
        if not isinstance(labels, Mapping):
            raise EventError("labels", "must be a mapping of columns or a DataFrame", value=labels)
        id_col = id_field if id_field in labels else "application_id" if "application_id" in labels else None
        if id_col is None:
            raise EventError(id_field, "is a required column of the labels table (the schema's id field"
                             + (")" if id_field == "application_id" else "; 'application_id' is accepted too)"))
        if "is_fraud" not in labels:
            raise EventError("is_fraud", "is a required column of the labels table (1 = fraud, 0 = genuine)")
        raw_ids = _as_column(labels[id_col]).astype(object)
        if raw_ids.ndim != 1:
            raise EventError(id_field, "must be a one-dimensional column")
        ids = [parse_application_id(v, field=id_field, row=i) for i, v in enumerate(raw_ids.tolist())]
        self.fraud = _fraud_column(labels["is_fraud"])
        if "label_ts" in labels:
            self.lts = _ts_column(labels["label_ts"])
        elif "label_time" in labels:
            self.lts = np.array([parse_label_time(v, row=i) for i, v in enumerate(labels["label_time"])],
                                dtype=np.int64)
        elif require_time:
            raise EventError("label_time", "is a required column of the labels table (label-delayed features use "
                                           "it; or give label_ts in epoch ms)")
        else:
            self.lts = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
        if not len(ids) == len(self.fraud) == len(self.lts):
            raise EventError("labels", "columns must all have the same length")
        self.pos = {a: i for i, a in enumerate(ids)}

    def align(self, application_ids: Any) -> dict[str, np.ndarray]:
        """``is_fraud`` (float, NaN unknown) and ``label_ts`` (int64 ms) aligned with ``application_ids``."""
        j = np.array([self.pos.get(str(a), -1) for a in application_ids], dtype=np.int64)
        ok = j >= 0
        fraud = np.full(len(j), np.nan)
        lts = np.full(len(j), np.iinfo(np.int64).max, dtype=np.int64)
        fraud[ok] = self.fraud[j[ok]]
        lts[ok] = self.lts[j[ok]]
        return {"is_fraud": fraud, "label_ts": lts}


def labels_for_rows(labels: Any, application_ids: np.ndarray, *, id_field: str = "application_id",
                    require_time: bool = True) -> dict[str, np.ndarray]:
    """Align a labels table with batch rows by id (see :class:`LabelIndex`)."""
    index = labels if isinstance(labels, LabelIndex) else LabelIndex(labels, id_field=id_field,
                                                                      require_time=require_time)
    return index.align(application_ids)
