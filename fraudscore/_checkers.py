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

from .limits import MAX_ATTR_STR_LEN, MAX_DEVICE_CHARS, MAX_LIST_ITEM_LEN, MAX_NAME_LEN
from .timeutil import SECONDS_MS_CUTOFF, TS_MAX_MS, TS_MIN_MS

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Field

__all__ = ["compile_check"]

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
