"""The scorer's settings checked at construction: the clock, the clock-skew bound, the latency budget and a
model's content version (moved out of :mod:`fraudscore.scorer` in round 14; it re-exports
:data:`DEFAULT_MAX_CLOCK_SKEW` and :func:`wall_clock_ms`)."""

from __future__ import annotations

import time
from typing import Any

from .errors import ConfigError
from .timeutil import parse_duration

__all__ = ["DEFAULT_MAX_CLOCK_SKEW", "wall_clock_ms", "skew_ms", "budget_ms", "model_content_version"]

#: Default bound on how far an event's time may be ahead of the scorer's clock.
DEFAULT_MAX_CLOCK_SKEW = "5m"


def wall_clock_ms() -> int:
    """The scorer's default clock: the system's wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def skew_ms(value: Any) -> int | None:
    """``Scorer(max_clock_skew=...)`` in milliseconds (None: no bound); a :class:`ConfigError` for anything but a
    positive duration.

    >>> skew_ms("5m"), skew_ms(None)
    (300000, None)
    """
    if value is None:
        return None
    try:
        ms = parse_duration(value)
    except (TypeError, ValueError):
        ms = None
    if ms is None:
        raise ConfigError(f"The 'max_clock_skew' parameter of Scorer must be a positive duration such as '5m' "
                          f"(or None to disable the bound). Got {value!r} instead.")
    return ms


def budget_ms(value: Any) -> float | None:
    """``Scorer(latency_budget_ms=...)`` as a float (None: no budget); a :class:`ConfigError` for anything but a
    positive number.

    >>> budget_ms(50), budget_ms(None)
    (50.0, None)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise ConfigError(f"The 'latency_budget_ms' parameter of Scorer must be a positive number of milliseconds "
                          f"(or None). Got {value!r} instead.")
    return float(value)


def model_content_version(model: Any) -> str:
    """Content version of a model: ``"m-"`` + 16 hex of the sha256 of its LightGBM text and calibration."""
    if model is None:
        return "none"
    import hashlib

    h = hashlib.sha256()
    for name, data in sorted(model.to_files().items()):
        if name not in ("model.json", "reference.json"):  # metadata, monitoring reference: no effect on predictions
            h.update(name.encode() + b"\0" + data)
    return "m-" + h.hexdigest()[:16]
