"""Field checkers specialised per field (the fast path of :meth:`fraudscore.schema.Schema.validate`).

:func:`compile_check` returns a closure with the same results and errors as
``Field.check(field.name, value)``: exact built-in types take a fast path,
anything else (and every error) goes through ``Field.check`` itself, so there
is one definition of what a valid value is. Use it through
:func:`fraudscore.schema.compile_check`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._core import load as load_core
from .limits import (MAX_ATTR_STR_LEN, MAX_DEVICE_ATTRIBUTES, MAX_DEVICE_CHARS, MAX_EVENT_FIELDS, MAX_LIST_ITEM_LEN,
                     MAX_LIST_LEN, MAX_NAME_LEN, MAX_STR_LEN)
from .timeutil import SECONDS_MS_CUTOFF, TS_MAX_MS, TS_MIN_MS

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Field

__all__ = ["compile_check", "compiled_validator", "mapping_check"]

_MAX_INT = 2**1023  # ints below it convert to finite floats; larger ones take the slow path (which decides)


def compile_check(f: Field, max_str: int, max_keys: int, max_list: int) -> Callable[[Any], Any]:
    """A checker for ``f`` given the schema's size limits (see :func:`fraudscore.schema.compile_check`)."""
    name, t, slow = f.name, f.type, f.check
    if t == "str" or t == "category":
        def check(v: Any) -> Any:
            if type(v) is str:
                s = v.strip()
                if len(s) <= max_str and "\x00" not in s and s.isascii():
                    return s or None
            return slow(name, v)
    elif t == "float" or t == "int":
        lo = -math.inf if f.minimum is None else f.minimum
        hi = math.inf if f.maximum is None else f.maximum
        whole = t == "int"

        def check(v: Any) -> Any:
            tv = type(v)
            if tv is float or (tv is int and -_MAX_INT < v < _MAX_INT):
                x = float(v)
                if x - x == 0.0 and lo <= x <= hi and (not whole or x.is_integer()):
                    return x
            return slow(name, v)
    elif t == "bool":
        def check(v: Any) -> Any:
            return v if type(v) is bool else slow(name, v)
    elif t == "timestamp":
        def check(v: Any) -> Any:
            if type(v) is int:  # to_epoch_ms for a plain int, inline
                ms = v * 1_000 if abs(v) < SECONDS_MS_CUTOFF else v
                if TS_MIN_MS <= ms <= TS_MAX_MS:
                    return ms
            return slow(name, v)
    else:
        def check(v: Any) -> Any:
            if type(v) is not dict or len(v) > max_keys:
                return slow(name, v)
            out = dict(v)
            total = 0
            for k, x in out.items():
                if type(k) is not str or not k or len(k) > MAX_NAME_LEN or not k.isascii():
                    return slow(name, v)
                total += len(k)
                tx = type(x)
                if tx is str:
                    if len(x) > MAX_ATTR_STR_LEN or not x.isascii():
                        return slow(name, v)
                    total += len(x)
                elif tx is float:
                    if x - x != 0.0:
                        return slow(name, v)
                elif tx is int:
                    if not -_MAX_INT < x < _MAX_INT:
                        return slow(name, v)
                elif tx is list:
                    if len(x) > max_list:
                        return slow(name, v)
                    for i in x:
                        ti = type(i)
                        if ti is str:
                            if len(i) > MAX_LIST_ITEM_LEN or not i.isascii():
                                return slow(name, v)
                            total += len(i)
                        elif not ((ti is int and -_MAX_INT < i < _MAX_INT) or (ti is float and i - i == 0.0)):
                            return slow(name, v)
                    out[k] = list(x)  # replacing a value keeps the dict's size: safe while iterating
                elif not (tx is bool or x is None):
                    return slow(name, v)
            if total > MAX_DEVICE_CHARS:
                return slow(name, v)
            return out
    return check


_TYPE_CODES = {"str": 0, "category": 0, "float": 1, "int": 1, "bool": 2, "timestamp": 3, "mapping": 4}


def compiled_validator(plan: tuple[tuple[str, bool, bool, Callable[[Any], Any]], ...],
                       fields: tuple[Field, ...]) -> Any:
    """The compiled fast path of :meth:`Schema.validate` (``fraudscore/_core/schema.c``), or ``None``.

    It computes what the Python fast paths compute for exact built-in types and hands everything
    else (other types, every error) to the Python reference.
    """
    core = load_core("schema")
    if core is None:
        return None
    core.set_limits(0, 0, 0, 0, MAX_NAME_LEN, MAX_ATTR_STR_LEN, MAX_LIST_ITEM_LEN, MAX_DEVICE_CHARS)
    items = tuple((name, req, is_str, _TYPE_CODES.get(f.type, 5),
                   -math.inf if f.minimum is None else float(f.minimum),
                   math.inf if f.maximum is None else float(f.maximum), f.type == "int", check)
                  for (name, req, is_str, check), f in zip(plan, fields))
    return core.Validator(items, (MAX_EVENT_FIELDS, MAX_STR_LEN, MAX_DEVICE_ATTRIBUTES, MAX_LIST_LEN, TS_MIN_MS, TS_MAX_MS,
                                  int(SECONDS_MS_CUTOFF)))


def mapping_check(f: Field) -> Callable[[Any], Any]:
    """``f.check(f.name, value)`` for a ``mapping`` field, through the compiled fast path where it applies.

    Examples
    --------
    >>> from fraudscore.schema import Field
    >>> mapping_check(Field("device", "mapping"))({"os": "ios", "fonts": ["a", "b"]})
    {'os': 'ios', 'fonts': ['a', 'b']}
    """
    core = load_core("schema")
    if core is None:
        return compile_check(f, MAX_STR_LEN, MAX_DEVICE_ATTRIBUTES, MAX_LIST_LEN)
    name, slow, fast = f.name, f.check, core.check_mapping
    core.set_limits(0, 0, 0, 0, MAX_NAME_LEN, MAX_ATTR_STR_LEN, MAX_LIST_ITEM_LEN, MAX_DEVICE_CHARS)

    def check(value: Any) -> Any:
        out = fast(value, MAX_DEVICE_ATTRIBUTES, MAX_LIST_LEN)
        return slow(name, value) if out is None else out

    return check
