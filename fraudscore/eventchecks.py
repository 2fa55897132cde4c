"""Event checks the pipeline applies before any state is touched, and the batch GC pause.

Late events (live scoring only; offline commands sort by time), device mappings
that name no known attribute (they would fingerprint every device alike), and
:func:`paused_gc` for bulk batch allocation. :mod:`fraudscore.pipeline` re-exports
them for its callers.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import EventError
from .velocity.admission import late_message

__all__ = ["paused_gc", "late_event_error", "has_device_attribute", "unusable_device_error"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk, cycle-free allocation (batch scoring).

    Building per-row objects for a large batch otherwise triggers many full
    collections over every live object (caches included): about a third of the
    batch time. Reference counting still frees everything; the collector is
    re-enabled (if it was enabled) on exit. Before that, the objects the batch
    leaves alive (its result, caches) move to the oldest generation at once
    (``gc.freeze()`` then ``gc.unfreeze()``: two list splices, no traversal),
    where the first allocation after ``gc.enable()`` would otherwise run a
    young collection over all of them (about 1 us a row at 100k rows, #13
    round 13). Skipped while the application holds frozen objects of its own
    (``gc.get_freeze_count()``), which unfreezing would release.

    Examples
    --------
    >>> import gc
    >>> with paused_gc():
    ...     gc.isenabled()
    False
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():
                gc.freeze()  # the young generation's survivors, unvisited, to the oldest generation
                gc.unfreeze()
            gc.enable()


def late_event_error(field: str, allowed_lateness_ms: int, row: int | None = None) -> EventError:
    """The error for an event that arrives more than ``allowed_lateness`` after a newer one (live scoring).

    Examples
    --------
    >>> print(late_event_error("ts", 3_600_000, row=7))
    row 7: field 'ts': is more than the allowed lateness (1h) older than the newest event already seen; send events in time order or raise allowed_lateness
    """
    return EventError(field, late_message(allowed_lateness_ms), row=row)


def has_device_attribute(device: Mapping[str, Any]) -> bool:
    """Whether a device mapping names at least one known device attribute (with a value).

    A mapping of only unknown names fingerprints every device alike, so linking
    would join them all into one device: such mappings are refused
    (:func:`unusable_device_error`).

    Examples
    --------
    >>> has_device_attribute({"OS": "android", "x": 1}), has_device_attribute({"id": "abc123"})
    (True, False)
    """
    for k, v in device.items():
        if v is None or v == "" or v == []:
            continue
        hit = _KNOWN_ATTR_NAMES.get(k)  # == _attribute_known(k), its cache read inline
        if hit if hit is not None else _attribute_known(k):
            return True
    return False


_KNOWN_ATTR_NAMES: dict[Any, bool] = {}


def _attribute_known(name: Any) -> bool:
    hit = _KNOWN_ATTR_NAMES.get(name)
    if hit is None:
        from .fingerprint.canonical import ATTRIBUTE_INDEX

        key = str(name).strip().lower()[:64].strip()
        hit = key in ATTRIBUTE_INDEX or key.replace(" ", "_").replace("-", "_") in ATTRIBUTE_INDEX
        if len(_KNOWN_ATTR_NAMES) < 4096:
            _KNOWN_ATTR_NAMES[name] = hit
    return hit


def unusable_device_error(row: int | None = None) -> EventError:
    """The error for a device mapping without any known device attribute (see :func:`has_device_attribute`)."""
    return EventError("device", "names no known device attribute (such as user_agent, os, model, screen), so every "
                                "such device would link into one; put a plain device id in its own field with "
                                "identifier = \"device_id\" (see docs/schema.md)", row=row)
