"""Timestamps and durations: one internal unit, integer milliseconds since the epoch (UTC).

Every stage after :mod:`fraudscore.schema` sees time as ``int`` milliseconds
(``numpy.int64`` in batches). This module converts what callers send into that
unit and parses window durations such as ``"10m"`` or ``"7d"``.

Accepted timestamp inputs
-------------------------
* ``int`` / ``float`` epoch values: below ``1e11`` in absolute value they are
  **seconds**, otherwise **milliseconds** (``1e11`` seconds is the year 5138,
  ``1e11`` milliseconds is 1973-03-03, so the two ranges do not overlap for any
  date this library accepts);
* ISO-8601 strings (``"2026-11-29T10:00:00Z"``, ``"2026-11-29 10:00:00+08:00"``,
  ``"2026-11-29"``); a string without an offset is taken as UTC;
* :class:`datetime.datetime` (aware ones are converted, naive ones are UTC),
  :class:`datetime.date`, :class:`numpy.datetime64` and ``pandas.Timestamp``.

Accepted dates run from 1971-01-01 to 2199-12-31 inclusive.

Examples
--------
>>> to_epoch_ms("2026-11-29T10:00:00Z")
1795946400000
>>> to_epoch_ms(1795946400) == to_epoch_ms(1795946400000) == 1795946400000
True
>>> parse_duration("90m"), parse_duration("7d"), parse_duration("all")
(5400000, 604800000, None)
>>> format_duration(86400000)
'24h'
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import numpy as np

__all__ = [
    "MS",
    "to_epoch_ms",
    "epoch_ms_array",
    "parse_duration",
    "format_duration",
    "from_epoch_ms",
    "TS_MIN_MS",
    "TS_MAX_MS",
]

MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
SECONDS_MS_CUTOFF = 1e11
TS_MIN_MS = 31_536_000_000  # 1971-01-01T00:00:00Z
TS_MAX_MS = 7_258_118_399_999  # 2199-12-31T23:59:59.999Z
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_DURATION_RE = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")


def _check_range(ms: int) -> int:
    if not (TS_MIN_MS <= ms <= TS_MAX_MS):
        raise ValueError("must be between 1971-01-01 and 2199-12-31")
    return ms


def _datetime_to_ms(value: _dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def to_epoch_ms(value: Any) -> int:
    """Convert one timestamp to integer epoch milliseconds (UTC).

    Parameters
    ----------
    value : int, float, str, datetime, date or numpy.datetime64
        See the module docstring for the accepted forms.

    Returns
    -------
    int
        Milliseconds since 1970-01-01T00:00:00Z.

    Raises
    ------
    ValueError
        With a short reason; :mod:`fraudscore.schema` wraps it into an
        :class:`~fraudscore.errors.EventError` that names the field.
    TypeError
        When the value is of a type that is never a timestamp (e.g. ``bool``).

    Examples
    --------
    >>> to_epoch_ms("2026-11-29T18:00:00+08:00")
    1795946400000
    >>> import datetime as dt
    >>> to_epoch_ms(dt.datetime(2026, 11, 29, 10, tzinfo=dt.timezone.utc))
    1795946400000
    """
    if isinstance(value, bool) or value is None:
        raise TypeError("must be a timestamp")
    if isinstance(value, (int, np.integer)):
        v = int(value)
        return _check_range(v * 1_000 if abs(v) < SECONDS_MS_CUTOFF else v)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError("must be a finite epoch time")
        ms = f * 1_000 if abs(f) < SECONDS_MS_CUTOFF else f
        return _check_range(int(math.floor(ms)))
    if isinstance(value, _dt.datetime):  # pandas.Timestamp is a datetime subclass
        return _check_range(_datetime_to_ms(value))
    if isinstance(value, _dt.date):
        return _check_range(_datetime_to_ms(_dt.datetime(value.year, value.month, value.day)))
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("must not be NaT")
        return _check_range(int(value.astype("datetime64[ms]").astype(np.int64)))
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            raise ValueError("must be an ISO-8601 date-time string")
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("must be an ISO-8601 date-time string") from None
        return _check_range(_datetime_to_ms(parsed))
    raise TypeError("must be a timestamp (epoch seconds/ms, ISO-8601 string or datetime)")


def epoch_ms_array(values: np.ndarray) -> np.ndarray:
    """Vectorised :func:`to_epoch_ms` for numeric and ``datetime64`` arrays.

    Integer and float arrays follow the same seconds/milliseconds rule as
    :func:`to_epoch_ms`, element by element. Returns ``int64`` milliseconds and a
    boolean mask of invalid entries (non-finite, NaT or out of range); invalid
    entries hold 0.

    Examples
    --------
    >>> ms, bad = epoch_ms_array(np.array([1795946400, 1795946400000, -1]))
    >>> ms.tolist(), bad.tolist()
    ([1795946400000, 1795946400000, 0], [False, False, True])
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        nat = np.isnat(arr)
        ms = arr.astype("datetime64[ms]").astype(np.int64)
        bad = nat | (ms < TS_MIN_MS) | (ms > TS_MAX_MS)
    elif arr.dtype.kind in "iu":
        v = arr.astype(np.int64)
        ms = np.where(np.abs(v) < SECONDS_MS_CUTOFF, v * 1_000, v)
        bad = (ms < TS_MIN_MS) | (ms > TS_MAX_MS)
    elif arr.dtype.kind == "f":
        f = arr.astype(np.float64)
        finite = np.isfinite(f)
        f = np.where(finite, f, 0.0)
        small = np.abs(f) < SECONDS_MS_CUTOFF
        scaled = np.where(small, np.where(small, f, 0.0) * 1_000, f)
        ms = np.floor(np.clip(scaled, -9e15, 9e15)).astype(np.int64)
        bad = ~finite | (ms < TS_MIN_MS) | (ms > TS_MAX_MS)
    else:
        raise TypeError(f"cannot vectorise timestamps of dtype {arr.dtype}")
    return np.where(bad, 0, ms).astype(np.int64), bad


def from_epoch_ms(ms: int) -> _dt.datetime:
    """Return the aware UTC datetime for epoch milliseconds.

    Examples
    --------
    >>> from_epoch_ms(1795946400000).isoformat()
    '2026-11-29T10:00:00+00:00'
    """
    return _EPOCH + _dt.timedelta(milliseconds=int(ms))


def parse_duration(text: str | int | None) -> int | None:
    """Parse a window duration into milliseconds.

    ``"ms"``, ``"s"``, ``"m"``, ``"h"``, ``"d"`` and ``"w"`` units are accepted
    (``"10m"``, ``"24h"``, ``"30d"``); an ``int`` is taken as milliseconds;
    ``"all"``, ``"all-time"`` or ``None`` mean an unbounded window and return
    ``None``.

    Raises
    ------
    ValueError
        For anything else, including zero and negative durations.

    Examples
    --------
    >>> parse_duration("24h")
    86400000
    """
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, (int, np.integer)):
        if int(text) <= 0:
            raise ValueError(f"must be a positive duration, got {text!r}")
        return int(text)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r}")
    if text.strip().lower() in ("all", "all-time", "alltime", "inf"):
        return None
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"must be a positive duration such as '10m', '24h' or '7d', got {text!r}")
    ms = int(m.group(1)) * MS[m.group(2)]
    if ms <= 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    return ms


def format_duration(ms: int | None) -> str:
    """Shortest exact text for a duration in milliseconds (inverse of :func:`parse_duration`).

    Days are written as days (``"7d"``, ``"30d"``) rather than weeks, and whole
    days below two are written in hours (``"24h"``), matching common usage.

    Examples
    --------
    >>> [format_duration(x) for x in (600000, 3600000, 86400000, 604800000, None)]
    ['10m', '1h', '24h', '7d', 'all']
    """
    if ms is None:
        return "all"
    for unit in ("d", "h", "m", "s"):
        size = MS[unit]
        if ms % size == 0:
            if unit == "d" and ms // size < 2:
                continue
            return f"{ms // size}{unit}"
    return f"{ms}ms"
