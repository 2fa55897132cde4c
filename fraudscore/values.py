"""Value checks: the one rule per value that online validation and batch columns share.

Every number must be a finite float64 value, every text valid Unicode within the
size limits of :mod:`fraudscore.limits`; a device mapping holds attribute names,
scalars and flat lists. Errors name the field (an undeclared field as
``"<extra field>"``, an unknown device attribute as ``"device.<attribute>"``: a
name the caller chose is never echoed) and never show the value, only its type.
:mod:`fraudscore.schema` (``Field.check``, ``Schema.validate``) and
:mod:`fraudscore.batch` (``to_columns``) call these functions.

Examples
--------
>>> check_extra(np.int64(3)), extra_name_ok("channel"), extra_name_ok("_private")
(3, True, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import EventError
from .limits import (MAX_ATTR_STR_LEN, MAX_DEVICE_ATTRIBUTES, MAX_DEVICE_CHARS, MAX_LIST_ITEM_LEN, MAX_LIST_LEN,
                     MAX_NAME_LEN, MAX_STR_LEN)

__all__ = ["attribute_label", "check_extra", "extra_name_ok", "EXTRA_FIELD"]

#: How errors name what the caller chose the name of (never the name itself: a key can be a phone number).
EXTRA_FIELD = "<extra field>"
_ATTRIBUTE = "<attribute>"
_MAX_INT_BITS = 1024  # |x| < 2**1024 exactly when float(x) is finite (or rounds to the largest float)


def _known_attributes() -> frozenset[str]:
    from .fingerprint.canonical import ATTRIBUTE_NAMES

    return frozenset(ATTRIBUTE_NAMES)


_KNOWN_ATTRS: frozenset[str] | None = None


def attribute_label(mapping: str, key: Any) -> str:
    """How errors name attribute ``key`` of a mapping field: known device attributes by name, others by kind.

    Examples
    --------
    >>> attribute_label("device", "screen"), attribute_label("device", "+8613800138000")
    ('device.screen', 'device.<attribute>')
    """
    global _KNOWN_ATTRS
    if _KNOWN_ATTRS is None:
        _KNOWN_ATTRS = _known_attributes()
    return f"{mapping}.{key}" if type(key) is str and key in _KNOWN_ATTRS else f"{mapping}.{_ATTRIBUTE}"


def _finite_number(name: str, value: Any) -> float:
    """``float(value)`` for an int or float, or EventError when it is not a finite float64."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if int(value).bit_length() > _MAX_INT_BITS:
            raise EventError(name, "must be a finite number", value=value)
        try:
            f = float(value)
        except OverflowError:
            raise EventError(name, "must be a finite number", value=value) from None
    else:
        f = float(value)
    if not math.isfinite(f):
        raise EventError(name, "must be a finite number", value=value)
    return f


def _valid_text(name: str, s: str, value: Any, *, nul: bool = True) -> None:
    """Refuse lone surrogates (text that cannot be UTF-8 encoded) and, unless ``nul=False``, NUL characters.

    Device attributes keep NUL (canonicalisation removes control characters), as they always did.
    """
    if nul and "\x00" in s:
        raise EventError(name, "must not contain NUL characters", value=value)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(name, "must be valid Unicode text (no lone surrogates)", value=value) from None


def check_extra(value: Any) -> Any:
    """Validate and normalise the value of an extra (undeclared) field; the one rule for both paths.

    Missing values (``None``, NaN, ``pandas.NA``) give ``None``; numpy scalars become Python
    scalars; strings, finite numbers and booleans are kept. Errors name the field
    ``"<extra field>"``: an extra field's name is the caller's text and is never echoed.

    Examples
    --------
    >>> check_extra(np.int64(3)), check_extra(" x "), check_extra(float("nan"))
    (3, ' x ', None)
    >>> check_extra(10**400)
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: field '<extra field>': must be a finite number (got int)
    """
    if _is_missing(value):
        return None
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        _finite_number(EXTRA_FIELD, value)
        return value
    if isinstance(value, str):
        if len(value) > MAX_STR_LEN:
            raise EventError(EXTRA_FIELD, f"must be at most {MAX_STR_LEN} characters", value=value)
        _valid_text(EXTRA_FIELD, value, value)
        return value
    raise EventError(EXTRA_FIELD, "extra fields must be strings, numbers or booleans", value=value)


def extra_name_ok(name: Any) -> bool:
    """Whether ``name`` may name an extra field: an identifier of at most 64 characters, not starting with ``_``."""
    return type(name) is str and len(name) <= MAX_NAME_LEN and name.isidentifier() and not name.startswith("_")


def _check_mapping(name: str, value: Any) -> dict[str, Any]:
    """The mapping rule (a device): attribute names, scalar or flat-list values, every size limit."""
    if not isinstance(value, Mapping):
        raise EventError(name, "must be a mapping of attribute names to values", value=value)
    if len(value) > MAX_DEVICE_ATTRIBUTES:
        raise EventError(name, f"must have at most {MAX_DEVICE_ATTRIBUTES} attributes", value=value)
    out: dict[str, Any] = {}
    total = 0
    for k, v in value.items():
        if type(k) is not str or not k or len(k) > MAX_NAME_LEN:
            raise EventError(name, f"attribute names must be non-empty strings of at most {MAX_NAME_LEN} "
                                   "characters", value=k)
        sub = attribute_label(name, k)
        _valid_text(sub, k, k, nul=False)
        total += len(k)
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            v = v.item()
        if v is None or isinstance(v, bool):
            out[k] = v
        elif isinstance(v, (int, float)):
            _finite_number(sub, v)
            out[k] = v
        elif isinstance(v, str):
            if len(v) > MAX_ATTR_STR_LEN:
                raise EventError(sub, f"must be at most {MAX_ATTR_STR_LEN} characters", value=v)
            _valid_text(sub, v, v, nul=False)
            total += len(v)
            out[k] = v
        elif isinstance(v, (list, tuple, np.ndarray)):
            if isinstance(v, np.ndarray):  # list columns read from Parquet / Arrow
                if v.ndim != 1:
                    raise EventError(sub, "must be a string, number, boolean or list", value=v)
                v = v.tolist()
            if len(v) > MAX_LIST_LEN:
                raise EventError(sub, f"must have at most {MAX_LIST_LEN} items", value=v)
            for item in v:
                if isinstance(item, str):
                    if len(item) > MAX_LIST_ITEM_LEN:
                        raise EventError(sub, f"list items must be at most {MAX_LIST_ITEM_LEN} characters",
                                         value=item)
                    _valid_text(sub, item, item, nul=False)
                    total += len(item)
                elif isinstance(item, (int, float)) and not isinstance(item, bool):
                    _finite_number(sub, item)
                else:
                    raise EventError(sub, "list items must be strings or numbers", value=item)
            out[k] = list(v)
        else:
            raise EventError(sub, "must be a string, number, boolean or list", value=v)
    if total > MAX_DEVICE_CHARS:
        raise EventError(name, f"must hold at most {MAX_DEVICE_CHARS} characters in all", value=value)
    return out


_PLAIN = frozenset({str, int, dict, bool, list})  # types that are never "missing" (bar NaN floats)



def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.floating) and np.isnan(value):
        return True
    # pandas.NA / NaT and numpy NaT
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, np.datetime64) and np.isnat(value):
        return True
    return False
