"""Reason templates: ``"{distinct__applicant_id__by__device_id__24h} IDs on this device in 24 h"``.

A template is plain text with ``{name}`` placeholders (``{{`` and ``}}`` for
literal braces). Only bare names are allowed: no attribute access, indexing,
conversion or format spec, so a template cannot reach into Python objects.

Examples
--------
>>> render(parse_template("{n} IDs, amount {amount}", "R"), {"n": 4.0, "amount": 1234.567})
'4 IDs, amount 1.23e+03'
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import RuleSyntaxError
from .parser import did_you_mean
from .scalar import normalize

__all__ = ["format_value", "parse_template", "check_template", "render", "Template"]

Template = tuple[tuple[str, str | None], ...]


def format_value(v: Any) -> str:
    """Format a value compactly for a reason message.

    Integers print without ``.0``, other numbers with 3 significant digits,
    missing values as ``"missing"``.

    Examples
    --------
    >>> format_value(3.0), format_value(0.123456), format_value(None), format_value(True), format_value("web")
    ('3', '0.123', 'missing', '1', 'web')
    """
    x = normalize(v)
    if x is None:
        return "missing"
    if isinstance(x, str):
        return x
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:.3g}"


def parse_template(template: str, code: str | None = None) -> Template:
    """Split a template into ``(literal, name or None)`` pieces; raise on anything but ``{name}``.

    Examples
    --------
    >>> parse_template("{a} and {{b}}")
    (('', 'a'), (' and {b}', None))
    >>> parse_template("{a.__class__}")
    Traceback (most recent call last):
    ...
    fraudscore.errors.RuleSyntaxError: reason placeholders must be plain names like {amount}; got {a.__class__}
    """
    if not isinstance(template, str):
        raise RuleSyntaxError(f"the reason must be a string, got {type(template).__name__}", code=code)
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RuleSyntaxError(f"bad reason template: {exc}", code=code) from None
    for literal, field, spec, conv in parsed:
        if field is None:
            if pieces and pieces[-1][1] is None:
                literal = pieces.pop()[0] + literal
            pieces.append((literal, None))
            continue
        if (not field.isidentifier() or field.startswith("__") or spec or conv):
            shown = "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise RuleSyntaxError(
                f"reason placeholders must be plain names like {{amount}}; got {shown}", code=code)
        pieces.append((literal, field))
    return tuple(pieces)


def template_names(tpl: Template) -> set[str]:
    """Names quoted by a parsed template."""
    return {name for _, name in tpl if name is not None}


def check_template(tpl: Template, known: Iterable[str], identifiers: Iterable[str],
                   code: str | None = None) -> None:
    """Reject unknown names and identifier fields (they hold pseudonyms) in a template.

    Examples
    --------
    >>> check_template(parse_template("{ip}"), ["ip"], ["ip"], "R")
    Traceback (most recent call last):
    ...
    fraudscore.errors.RuleSyntaxError: rule 'R': the reason quotes the identifier field 'ip'; identifiers hold pseudonyms and must not appear in reasons
    """
    known_set, ids = set(known), set(identifiers)
    for name in sorted(template_names(tpl)):
        if name in ids:
            raise RuleSyntaxError(f"the reason quotes the identifier field {name!r}; identifiers hold "
                                  "pseudonyms and must not appear in reasons", code=code)
        if name not in known_set:
            raise RuleSyntaxError(f"the reason quotes unknown name {name!r}{did_you_mean(name, known_set)}",
                                  code=code)


def render(tpl: Template, values: Mapping[str, Any]) -> str:
    """Fill a parsed template from a mapping of values.

    Examples
    --------
    >>> render(parse_template("{n} devices"), {"n": float("nan")})
    'missing devices'
    """
    if len(tpl) == 1 and tpl[0][1] is None:
        return tpl[0][0]
    return "".join(lit + (format_value(values.get(name)) if name is not None else "") for lit, name in tpl)
